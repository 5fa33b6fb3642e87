/** `images list | pull | build | prune` against a real HTTP server on 127.0.0.1 and a temp cache. */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { InputError } from '../../core/errors.js';
import { repoRoot } from '../../core/paths.js';
import { imagesCommand, type ImagesCommandOptions } from '../../harness/cli/commands/images.js';
import { loadCatalog, type Catalog } from '../../images/catalog.js';
import { startHttpServer, type TestHttpServer } from '../support/http-server.js';

const execFileP = promisify(execFile);

describe('images command (list, pull, build, prune)', function () {
  this.timeout(60_000);
  let tmp: string;
  let server: TestHttpServer;
  let cacheDir: string;
  let userCatalog: string;
  let shipped: Catalog;

  const flags = (positionals: string[], extra: Partial<ImagesCommandOptions> = {}): ImagesCommandOptions => ({ positionals, offline: false, verifyCache: false, insecureNoChecksum: false, force: false, json: false, ...extra });
  async function run(positionals: string[], catalog: Catalog, extra: Partial<ImagesCommandOptions> = {}) {
    let stdout = '';
    let stderr = '';
    const code = await imagesCommand(flags(positionals, extra), { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), isTTY: false }, { cacheDir, catalog });
    return { code, stdout, stderr };
  }
  const catalogWith = () => loadCatalog([path.join(repoRoot, 'images', 'catalog'), userCatalog]);

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-images-cli-'));
    const www = path.join(tmp, 'www');
    await fs.mkdir(www);
    server = await startHttpServer(www);
    const raw = path.join(tmp, 'd.raw');
    await fs.writeFile(raw, Buffer.concat([randomBytes(1 << 20), Buffer.alloc(3 << 20)]));
    const qcow2 = path.join(tmp, 'd.qcow2');
    await execFileP('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
    const gz = gzipSync(await fs.readFile(qcow2));
    await fs.writeFile(path.join(www, 'served.qcow2.gz'), gz);
    const sha = createHash('sha256').update(gz).digest('hex');
    userCatalog = path.join(tmp, 'catalog');
    await fs.mkdir(userCatalog);
    const yaml = (name: string) =>
      `name: ${name}\nsummary: served from 127.0.0.1\nsource: { kind: url, url: "${server.url}/served.qcow2.gz", sha256: ${sha} }\nprovisioning: ignition\nuser: core\nmanages: [rpm-ostree]\n`;
    await fs.writeFile(path.join(userCatalog, 'served.yaml'), yaml('served'));
    await fs.writeFile(path.join(userCatalog, 'gone.yaml'), yaml('gone').replace('served.qcow2.gz', 'served.qcow2.gz?v=2').replace(sha, sha));
    shipped = await loadCatalog([path.join(repoRoot, 'images', 'catalog')]);
  });

  after(async () => {
    await server?.close();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  beforeEach(async () => {
    cacheDir = await fs.mkdtemp(path.join(tmp, 'cache-'));
  });

  it('list shows every catalog entry with its source, what manages it and its cache state', async () => {
    const { code, stdout } = await run(['list'], shipped);
    expect(code).to.equal(0);
    const lines = stdout.split('\n');
    expect(lines[0]).to.match(/^NAME\s+SOURCE\s+MANAGES\s+CACHE$/);
    for (const { entry } of shipped.values()) {
      const line = lines.find((l) => l.startsWith(`${entry.name} `));
      expect(line, entry.name).to.be.a('string');
      expect(line).to.include(entry.source.kind).and.to.include(entry.manages.join(','));
      expect(line).to.match(entry.source.kind === 'testbed' ? /not built$/ : /not cached$/);
    }
    const json = JSON.parse((await run([], shipped, { json: true })).stdout) as { name: string; state: string }[];
    expect(json.map((r) => r.name).sort()).to.deep.equal([...shipped.keys()].sort());
  });

  it('pull downloads and verifies; list then shows it cached; unknown names get a did-you-mean', async () => {
    const catalog = await catalogWith();
    const pulled = await run(['pull', 'served'], catalog);
    expect(pulled.code, pulled.stderr).to.equal(0);
    expect(pulled.stdout).to.match(/^served: downloaded and verified sha256 [0-9a-f]{64}\n {2}\S+\.qcow2\n$/);
    expect(pulled.stderr).to.include('downloading served');
    const again = await run(['pull', 'served'], catalog);
    expect(again.stdout).to.match(/^served: already cached/);
    const list = await run(['list'], catalog);
    expect(list.stdout).to.match(/\nserved\s+url\s+rpm-ostree\s+cached [0-9a-f]{12}, [\d.]+ MiB, 0m ago\n/);

    let err: unknown;
    try {
      await run(['pull', 'servd'], catalog);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(InputError);
    expect((err as Error).message).to.include("unknown image 'servd' (did you mean 'served'?)");
    const build = await run(['build', 'served'], catalog).then(
      () => null,
      (e: unknown) => e,
    );
    expect((build as Error).message).to.match(/images build makes disks from testbed or oci sources; 'served' is a url image/);
    const sub = await run(['prnue'], catalog).then(
      () => null,
      (e: unknown) => e,
    );
    expect((sub as Error).message).to.include("unknown images subcommand 'prnue' (did you mean 'prune'?)");
  });

  it('a failing pull reports the error and its exit code without a stack trace', async () => {
    // A plain URL with no sha256: refused before anything is downloaded.
    const extra = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-unpinned-'));
    await fs.writeFile(
      path.join(extra, 'unpinned.yaml'),
      'name: unpinned\nsummary: no checksum\nsource: { kind: url, url: "http://127.0.0.1:9/disk.qcow2" }\nprovisioning: ignition\nuser: core\nmanages: [rpm-ostree]\n',
    );
    const catalog = await loadCatalog([path.join(repoRoot, 'images', 'catalog'), userCatalog, extra]);
    const r = await run(['pull', 'unpinned'], catalog);
    await fs.rm(extra, { recursive: true, force: true });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^images pull unpinned failed: image 'unpinned' .* without a pinned sha256/);
    expect(r.stderr).to.not.match(/\n\s+at /);
  });

  it('prune removes entries no catalog entry points to, partial downloads and unheld locks, and says what it freed', async () => {
    const full = await catalogWith();
    expect((await run(['pull', 'served', 'gone'], full)).code).to.equal(0);
    // Same artifact for both names: make 'gone' point at a different cache entry so it can be pruned.
    const imagesDir = path.join(cacheDir, 'images');
    const fakeKey = 'b'.repeat(64);
    await fs.writeFile(path.join(imagesDir, `${fakeKey}.qcow2`), Buffer.alloc(4096));
    const st = await fs.stat(path.join(imagesDir, `${fakeKey}.qcow2`));
    await fs.writeFile(
      path.join(imagesDir, `${fakeKey}.json`),
      JSON.stringify({ schema: 1, key: fakeKey, file: `${fakeKey}.qcow2`, format: 'qcow2', image: 'gone', source: 'url', sizeBytes: 4096, mtimeMs: st.mtimeMs, createdAt: new Date().toISOString(), verifiedAt: new Date().toISOString() }),
    );
    await fs.writeFile(path.join(imagesDir, 'index', 'gone.json'), JSON.stringify({ name: 'gone', entries: [{ key: fakeKey, at: new Date().toISOString() }] }));
    await fs.mkdir(path.join(imagesDir, 'downloads'), { recursive: true });
    await fs.writeFile(path.join(imagesDir, 'downloads', 'abc-x.qcow2.xz.part'), Buffer.alloc(10_000));

    const withoutGone = new Map([...full].filter(([n]) => n !== 'gone'));
    const r = await run(['prune'], withoutGone);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.include(`removed ${path.join(imagesDir, `${fakeKey}.qcow2`)} (4.0 KiB): image 'gone' is no longer in the catalog`);
    expect(r.stdout).to.match(/removed \S+abc-x\.qcow2\.xz\.part \(9\.8 KiB\): interrupted download/);
    expect(r.stdout).to.match(/removed \S+locks\/served\.lock \(0 B\): lock file nobody holds/);
    expect(r.stdout).to.match(/freed 13\.\d KiB in /);
    expect(existsSync(path.join(imagesDir, `${fakeKey}.qcow2`))).to.equal(false);
    // What the catalog still points to survives and still resolves offline.
    const offline = await run(['pull', 'served'], withoutGone, { offline: true });
    expect(offline.stdout).to.match(/^served: already cached/);
    expect((await run(['prune'], withoutGone)).stdout).to.match(/^nothing to prune in /);
  });
});
