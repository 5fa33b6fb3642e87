/**
 * The coreos-stream source end to end against a real HTTP server on 127.0.0.1: a real qcow2 (made
 * with qemu-img), really xz-compressed, a stream JSON in the real FCOS layout, a real gpg signature.
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { InfraError, InputError } from '../../core/errors.js';
import { repoRoot } from '../../core/paths.js';
import type { CatalogEntry } from '../../images/catalog/schema.js';
import { resolveImage } from '../../images/resolve.js';
import { makeSigningKey, type TestSigningKey } from '../support/gpg.js';
import { startHttpServer, type TestHttpServer } from '../support/http-server.js';

const execFileP = promisify(execFile);
const RELEASE = '42.20250803.3.0';
const sha256 = async (file: string) => createHash('sha256').update(await fs.readFile(file)).digest('hex');

/** A 64 MiB qcow2 holding 3 MiB of random data, so it is neither empty nor compressible to nothing. */
async function makeQcow2(dir: string): Promise<string> {
  const raw = path.join(dir, 'disk.raw');
  const fh = await fs.open(raw, 'w');
  await fh.write(randomBytes(3 << 20), 0, 3 << 20, 0);
  await fh.truncate(64 << 20);
  await fh.close();
  const qcow2 = path.join(dir, 'disk.qcow2');
  await execFileP('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  await fs.rm(raw);
  return qcow2;
}

interface StreamFixture {
  diskPath: string;
  xzUrlPath: string;
  xzSha: string;
  qcowSha: string;
}

async function writeStream(root: string, baseUrl: string, name: string, disk: Partial<Record<'location' | 'signature' | 'sha256' | 'uncompressed-sha256', string>>): Promise<void> {
  // The real layout of https://builds.coreos.fedoraproject.org/streams/stable.json.
  const doc = {
    stream: name,
    metadata: { 'last-modified': '2025-08-20T18:51:42Z', generator: 'fedora-coreos-stream-generator v0.4.0' },
    architectures: {
      x86_64: {
        artifacts: {
          metal: { release: RELEASE, formats: { 'raw.xz': { disk: { location: `${baseUrl}/nope.raw.xz`, sha256: '0'.repeat(64) } } } },
          qemu: { release: RELEASE, formats: { 'qcow2.xz': { disk } } },
        },
        images: { gcp: { release: RELEASE, project: 'fedora-coreos-cloud', family: 'fedora-coreos-stable', name: `fedora-coreos-${RELEASE.replace(/\./g, '-')}-gcp-x86-64` } },
      },
    },
  };
  await fs.mkdir(path.join(root, 'streams'), { recursive: true });
  await fs.writeFile(path.join(root, 'streams', `${name}.json`), JSON.stringify(doc, null, 2));
}

describe('images: coreos-stream source (real HTTP on 127.0.0.1, qemu-img, xz, gpg)', function () {
  this.timeout(60_000);
  let tmp: string;
  let root: string;
  let server: TestHttpServer;
  let key: TestSigningKey;
  let fx: StreamFixture;
  let cacheDir: string;

  const entry = (stream: string, extra: { keyring?: string } = {}): CatalogEntry => ({
    name: `fcos-${stream}`,
    summary: 'test',
    source: { kind: 'coreos-stream', stream, 'metadata-url': `${server.url}/streams/`, format: 'qcow2.xz', ...extra },
    arch: 'x86_64',
    firmware: 'bios',
    provisioning: 'ignition',
    user: 'core',
    manages: ['rpm-ostree', 'bootc'],
  });

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-images-'));
    root = path.join(tmp, 'www');
    server = await startHttpServer(root);
    key = await makeSigningKey();
    const build = path.join(tmp, 'build');
    await fs.mkdir(build);
    const qcow2 = await makeQcow2(build);
    const rel = `prod/streams/stable/builds/${RELEASE}/x86_64/fedora-coreos-${RELEASE}-qemu.x86_64.qcow2.xz`;
    const xz = path.join(root, rel);
    await fs.mkdir(path.dirname(xz), { recursive: true });
    await execFileP('sh', ['-c', 'xz -T1 -1 -c "$1" > "$2"', 'sh', qcow2, xz]);
    await key.sign(xz, `${xz}.sig`);
    // A signature by the same key over other bytes: well-formed, but not for this file.
    const other = path.join(build, 'other');
    await fs.writeFile(other, 'not the image\n');
    await key.sign(other, `${xz}.badsig`);
    fx = { diskPath: qcow2, xzUrlPath: `/${rel}`, xzSha: await sha256(xz), qcowSha: await sha256(qcow2) };
    const location = `${server.url}/${rel}`;
    const good = { location, signature: `${location}.sig`, sha256: fx.xzSha, 'uncompressed-sha256': fx.qcowSha };
    await writeStream(root, server.url, 'stable', good);
    await writeStream(root, server.url, 'badsum', { ...good, sha256: 'f'.repeat(64) });
    await writeStream(root, server.url, 'badsig', { ...good, signature: `${location}.badsig` });
    await writeStream(root, server.url, 'baduncompressed', { ...good, 'uncompressed-sha256': 'e'.repeat(64) });
  });

  after(async () => {
    await server?.close();
    await key?.cleanup();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  beforeEach(async () => {
    cacheDir = await fs.mkdtemp(path.join(tmp, 'cache-'));
    server.requests.length = 0;
    server.rangeEnabled = true;
    server.delay = null;
  });

  async function cacheFiles(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
        if (e.isDirectory()) await walk(path.join(d, e.name));
        else out.push(path.relative(cacheDir, path.join(d, e.name)));
      }
    };
    await walk(cacheDir);
    return out.sort();
  }

  it('downloads, verifies sha256 + signature + uncompressed sha256, decompresses, stamps; then hits the cache with no request', async () => {
    const lines: string[] = [];
    const progress: number[] = [];
    const r = await resolveImage(entry('stable', { keyring: key.keyring }), { cacheDir, log: (l) => lines.push(l), progress: (p) => progress.push(p.bytes) });
    expect(r.format).to.equal('qcow2');
    expect(r.firmware).to.equal('bios');
    expect(r.provenance).to.include({ image: 'fcos-stable', source: 'coreos-stream', stream: 'stable', version: RELEASE, sha256: fx.xzSha, uncompressedSha256: fx.qcowSha, signature: 'verified', cacheHit: false });
    expect(r.provenance.url).to.equal(`${server.url}${fx.xzUrlPath}`);
    expect(r.diskPath).to.equal(path.join(cacheDir, 'images', `${fx.qcowSha}.qcow2`));
    expect(await sha256(r.diskPath)).to.equal(fx.qcowSha);
    const info = JSON.parse((await execFileP('qemu-img', ['info', '--output=json', r.diskPath])).stdout) as { format: string; 'virtual-size': number };
    expect(info.format).to.equal('qcow2');
    expect(info['virtual-size']).to.equal(64 << 20);
    expect((await fs.stat(r.diskPath)).mode & 0o222, 'base disk is read-only').to.equal(0);
    const stamp = JSON.parse(await fs.readFile(path.join(cacheDir, 'images', `${fx.qcowSha}.json`), 'utf8')) as Record<string, unknown>;
    expect(stamp).to.include({ source: 'coreos-stream', version: RELEASE, artifactSha256: fx.xzSha, key: fx.qcowSha, signature: 'verified', sizeBytes: (await fs.stat(r.diskPath)).size });
    expect(progress.at(-1)).to.equal((await fs.stat(path.join(root, fx.xzUrlPath))).size);
    // Nothing half-done is left behind.
    expect((await cacheFiles()).filter((f) => f.endsWith('.part') || f.endsWith('.sig'))).to.deep.equal([]);
    expect(server.requests.map((q) => q.path)).to.have.members(['/streams/stable.json', fx.xzUrlPath, `${fx.xzUrlPath}.sig`]);

    server.requests.length = 0;
    const t0 = Date.now();
    const again = await resolveImage(entry('stable', { keyring: key.keyring }), { cacheDir });
    expect(Date.now() - t0).to.be.below(1000);
    expect(again.provenance.cacheHit).to.equal(true);
    expect(again.diskPath).to.equal(r.diskPath);
    expect(again.provenance.version).to.equal(RELEASE);
    expect(server.requests, 'a cache hit makes no HTTP request').to.deep.equal([]);
  });

  it('--verify-cache re-hashes: a good entry passes, a disk altered behind the stamp (same size and mtime) is rejected and removed', async () => {
    const r = await resolveImage(entry('stable'), { cacheDir });
    expect(r.provenance.signature).to.equal('not-configured');
    const ok = await resolveImage(entry('stable'), { cacheDir, verifyCache: true });
    expect(ok.provenance.cacheHit).to.equal(true);
    expect(Date.parse(ok.provenance.verifiedAt)).to.be.at.least(Date.parse(r.provenance.verifiedAt));

    const st = await fs.stat(r.diskPath);
    const fh = await fs.open(r.diskPath, 'r+');
    await fh.write(Buffer.from('corrupt!'), 0, 8, 1 << 20);
    await fh.close();
    await fs.utimes(r.diskPath, st.atimeMs / 1000, st.mtimeMs / 1000);
    // Without verification the stamp is trusted (that is the point of the stamp)…
    expect((await resolveImage(entry('stable'), { cacheDir })).provenance.cacheHit).to.equal(true);
    // …with it, the mismatch is caught.
    let err: unknown;
    try {
      await resolveImage(entry('stable'), { cacheDir, verifyCache: true });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(InfraError);
    expect((err as InfraError).kind).to.equal('image');
    expect((err as Error).message).to.include(fx.qcowSha).and.to.match(/but has [0-9a-f]{64}/);
    expect(existsSync(r.diskPath)).to.equal(false);
  });

  it('resumes an interrupted download with a Range request and verifies the result', async () => {
    server.cutNext(fx.xzUrlPath, 1 << 20);
    const logs: string[] = [];
    const r = await resolveImage(entry('stable'), { cacheDir, log: (l) => logs.push(l) });
    const disk = server.requestsFor('.qcow2.xz');
    expect(disk).to.have.length(2);
    expect(disk[0]!.range).to.equal(undefined);
    expect(disk[1]!.range).to.match(/^bytes=\d+-$/);
    expect(Number(/=(\d+)-/.exec(disk[1]!.range!)![1])).to.be.above(0);
    expect(disk[1]!.status).to.equal(206);
    expect(logs.join('\n')).to.match(/resuming/);
    expect(await sha256(r.diskPath)).to.equal(fx.qcowSha);
    expect(r.provenance.sha256).to.equal(fx.xzSha);
  });

  it('falls back to a full download when the server ignores Range (200)', async () => {
    server.rangeEnabled = false;
    server.cutNext(fx.xzUrlPath, 1 << 20);
    const r = await resolveImage(entry('stable'), { cacheDir });
    const disk = server.requestsFor('.qcow2.xz');
    expect(disk).to.have.length(2);
    expect(disk[1]!.range).to.match(/^bytes=/);
    expect(disk[1]!.status).to.equal(200);
    expect(await sha256(r.diskPath)).to.equal(fx.qcowSha);
  });

  it('rejects a checksum mismatch naming both hashes and leaves nothing in the cache', async () => {
    let err: unknown;
    try {
      await resolveImage(entry('badsum'), { cacheDir });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(InfraError);
    const msg = (err as Error).message;
    expect(msg).to.include(`expected sha256 ${'f'.repeat(64)}`).and.to.include(`found ${fx.xzSha}`);
    expect((await cacheFiles()).filter((f) => !f.startsWith('images/streams/') && !f.startsWith('images/locks/'))).to.deep.equal([]);
  });

  it('rejects a wrong uncompressed sha256 after decompressing', async () => {
    const err = await resolveImage(entry('baduncompressed'), { cacheDir }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(InfraError);
    expect((err as Error).message).to.include(`expected uncompressed sha256 ${'e'.repeat(64)}`).and.to.include(`found ${fx.qcowSha}`);
    expect((await cacheFiles()).filter((f) => /\.(qcow2|raw|part)$/.test(f))).to.deep.equal([]);
  });

  it('rejects a bad signature and never caches the image', async () => {
    const err = await resolveImage(entry('badsig', { keyring: key.keyring }), { cacheDir }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(InfraError);
    expect((err as Error).message).to.match(/signature check failed for fcos-badsig/).and.to.include(key.keyring);
    expect((await cacheFiles()).filter((f) => /\.(qcow2|raw|part|sig)$/.test(f))).to.deep.equal([]);
    const missing = await resolveImage(entry('stable', { keyring: 'keys/fedora.gpg' }), { cacheDir, catalogFile: path.join(tmp, 'catalog', 'fcos-stable.yaml') }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(missing).to.be.instanceOf(InputError);
    expect((missing as Error).message).to.include(`the keyring ${path.join(tmp, 'catalog', 'keys', 'fedora.gpg')} (source.keyring in ${path.join(tmp, 'catalog', 'fcos-stable.yaml')}) does not exist`);
  });

  it('offline with an empty cache fails fast, naming the image and the pull command', async () => {
    const t0 = Date.now();
    const err = await resolveImage(entry('stable'), { cacheDir, offline: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(Date.now() - t0).to.be.below(1000);
    expect(err).to.be.instanceOf(InfraError);
    expect((err as Error).message).to.include("image 'fcos-stable' is not in the cache").and.to.include('npm run scenario -- images pull fcos-stable');
    expect(server.requests).to.deep.equal([]);
    // Once pulled, offline works without the network.
    await resolveImage(entry('stable'), { cacheDir });
    server.requests.length = 0;
    const r = await resolveImage(entry('stable'), { cacheDir, offline: true });
    expect(r.provenance).to.include({ cacheHit: true, version: RELEASE });
    expect(server.requests).to.deep.equal([]);
  });

  it('two processes pulling the same image at once: one download, both succeed', async () => {
    // Delay the disk so the second process certainly arrives while the first one holds the lock.
    server.delay = { match: /\.qcow2\.xz$/, ms: 1500 };
    const script = path.join(tmp, 'pull-child.mjs');
    await fs.writeFile(
      script,
      `import { resolveImage } from ${JSON.stringify(path.join(repoRoot, 'images/resolve.ts'))};\n` +
        `const [cacheDir, entry] = process.argv.slice(2);\n` +
        `const r = await resolveImage(JSON.parse(entry), { cacheDir, log: (l) => console.error(l) });\n` +
        `console.log(JSON.stringify(r));\n`,
    );
    const runChild = () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script, cacheDir, JSON.stringify(entry('stable'))], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], timeout: 50_000, killSignal: 'SIGKILL' });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const [a, b] = await Promise.all([runChild(), runChild()]);
    expect(a.code, a.stderr).to.equal(0);
    expect(b.code, b.stderr).to.equal(0);
    const ra = JSON.parse(a.stdout) as { diskPath: string; provenance: { cacheHit: boolean } };
    const rb = JSON.parse(b.stdout) as { diskPath: string; provenance: { cacheHit: boolean } };
    expect(ra.diskPath).to.equal(rb.diskPath);
    expect([ra.provenance.cacheHit, rb.provenance.cacheHit].sort()).to.deep.equal([false, true]);
    expect(server.requestsFor('.qcow2.xz'), 'exactly one download').to.have.length(1);
    expect(server.requestsFor('/streams/stable.json')).to.have.length(1);
    expect(a.stderr + b.stderr).to.match(/waiting for pid \d+ \(fetching fcos-stable\)/);
    expect(await sha256(ra.diskPath)).to.equal(fx.qcowSha);
  });
});
