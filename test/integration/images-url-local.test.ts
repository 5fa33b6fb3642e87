/**
 * The url and local sources with real files, real qemu-img, gzip/zstd and a real HTTP server on
 * 127.0.0.1.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { InputError } from '../../core/errors.js';
import type { CatalogEntry } from '../../images/catalog/schema.js';
import { describeProvenance, resolveImage } from '../../images/resolve.js';
import { startHttpServer, type TestHttpServer } from '../support/http-server.js';

const execFileP = promisify(execFile);
const sha256 = async (file: string) => createHash('sha256').update(await fs.readFile(file)).digest('hex');

const base: Pick<CatalogEntry, 'summary' | 'provisioning' | 'user' | 'manages'> = { summary: 'test', provisioning: 'cloud-init', user: 'core', manages: ['bootc'] };

describe('images: url and local sources', function () {
  this.timeout(60_000);
  let tmp: string;
  let root: string;
  let server: TestHttpServer;
  let cacheDir: string;
  let qcow2: string;
  let qcowSha: string;
  let gzSha: string;
  let rawSha: string;
  let zstSha: string;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-images-url-'));
    root = path.join(tmp, 'www');
    await fs.mkdir(root);
    server = await startHttpServer(root);
    const raw = path.join(tmp, 'disk.raw');
    await fs.writeFile(raw, Buffer.concat([randomBytes(2 << 20), Buffer.alloc(6 << 20)]));
    rawSha = await sha256(raw);
    qcow2 = path.join(tmp, 'disk.qcow2');
    await execFileP('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
    qcowSha = await sha256(qcow2);
    await fs.writeFile(path.join(root, 'rhcos-qemu.x86_64.qcow2.gz'), gzipSync(await fs.readFile(qcow2)));
    gzSha = await sha256(path.join(root, 'rhcos-qemu.x86_64.qcow2.gz'));
    await execFileP('zstd', ['-q', '-1', raw, '-o', path.join(root, 'disk.raw.zst')]);
    zstSha = await sha256(path.join(root, 'disk.raw.zst'));
  });

  after(async () => {
    await server?.close();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  beforeEach(async () => {
    cacheDir = await fs.mkdtemp(path.join(tmp, 'cache-'));
    server.requests.length = 0;
  });

  const urlEntry = (file: string, sha?: string): CatalogEntry => ({ ...base, manages: ['rpm-ostree'], name: 'rhcos-test', source: { kind: 'url', url: `${server.url}/${file}`, ...(sha ? { sha256: sha } : {}) } });

  it('refuses a url without a pinned sha256 and says how to pin it, before any request', async () => {
    const err = await resolveImage(urlEntry('rhcos-qemu.x86_64.qcow2.gz'), { cacheDir, catalogFile: 'images/catalog/rhcos-test.yaml' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).to.include("image 'rhcos-test' (images/catalog/rhcos-test.yaml)").and.to.include("add 'sha256: <64 hex digits>'").and.to.include('--insecure-no-checksum');
    expect(server.requests).to.deep.equal([]);
  });

  it('downloads a .gz, decompresses it with zlib and caches the qcow2; a pinned hit needs no request', async () => {
    const r = await resolveImage(urlEntry('rhcos-qemu.x86_64.qcow2.gz', gzSha), { cacheDir });
    expect(r.format).to.equal('qcow2');
    expect(r.provenance).to.include({ source: 'url', sha256: gzSha, uncompressedSha256: qcowSha, cacheHit: false, signature: 'not-configured' });
    expect(await sha256(r.diskPath)).to.equal(qcowSha);
    server.requests.length = 0;
    const hit = await resolveImage(urlEntry('rhcos-qemu.x86_64.qcow2.gz', gzSha), { cacheDir, offline: true });
    expect(hit.provenance.cacheHit).to.equal(true);
    expect(hit.diskPath).to.equal(r.diskPath);
    expect(server.requests).to.deep.equal([]);
  });

  it('handles .zst and a raw disk (format decided by qemu-img)', async () => {
    const r = await resolveImage({ ...urlEntry('disk.raw.zst', zstSha), name: 'raw-test' }, { cacheDir });
    expect(r.format).to.equal('raw');
    expect(r.diskPath.endsWith(`${rawSha}.raw`)).to.equal(true);
    expect(await sha256(r.diskPath)).to.equal(rawSha);
  });

  it('--insecure-no-checksum downloads unpinned, warns, and records the hash it saw', async () => {
    const lines: string[] = [];
    const r = await resolveImage(urlEntry('rhcos-qemu.x86_64.qcow2.gz'), { cacheDir, insecureNoChecksum: true, log: (l) => lines.push(l) });
    expect(lines.join('\n')).to.match(/WITHOUT checksum verification/);
    expect(r.provenance.sha256).to.equal(gzSha);
    expect(await sha256(r.diskPath)).to.equal(qcowSha);
  });

  it('a 404 is a clear image error naming the URL', async () => {
    const err = await resolveImage(urlEntry('missing.qcow2', 'a'.repeat(64)), { cacheDir }).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as Error).message).to.include(`${server.url}/missing.qcow2 answered HTTP 404`);
  });

  it('local: a path relative to the catalog file, hashed once per change; missing file names the catalog file', async () => {
    const catalogDir = path.join(tmp, 'catalog');
    await fs.mkdir(path.join(catalogDir, 'disks'), { recursive: true });
    const disk = path.join(catalogDir, 'disks', 'my.qcow2');
    await fs.copyFile(qcow2, disk);
    const catalogFile = path.join(catalogDir, 'my-local.yaml');
    const entry: CatalogEntry = { ...base, name: 'my-local', firmware: 'uefi', source: { kind: 'local', path: 'disks/my.qcow2' } };
    const r = await resolveImage(entry, { cacheDir, catalogFile });
    expect(r).to.include({ diskPath: disk, format: 'qcow2', firmware: 'uefi' });
    expect(r.provenance).to.include({ source: 'local', sha256: qcowSha, cacheHit: false });
    const again = await resolveImage(entry, { cacheDir, catalogFile });
    expect(again.provenance).to.include({ sha256: qcowSha, cacheHit: true });
    const preview = await describeProvenance(entry, cacheDir, catalogFile);
    expect(preview.cached?.sha256).to.equal(qcowSha);

    // A changed file is hashed again.
    await fs.appendFile(disk, Buffer.alloc(512));
    const changed = await resolveImage(entry, { cacheDir, catalogFile });
    expect(changed.provenance.cacheHit).to.equal(false);
    expect(changed.provenance.sha256).to.not.equal(qcowSha);

    const err = await resolveImage({ ...entry, source: { kind: 'local', path: 'disks/nope.qcow2' } }, { cacheDir, catalogFile }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(InputError);
    expect((err as Error).message).to.include(path.join(catalogDir, 'disks', 'nope.qcow2')).and.to.include(catalogFile);
  });
});
