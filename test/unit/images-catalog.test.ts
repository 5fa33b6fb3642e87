/** Catalog layers: user entries override shipped ones with a notice; a broken user file leaves only itself out. */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../core/paths.js';
import { InputError } from '../../core/errors.js';
import { main } from '../../harness/cli/main.js';
import { loadCatalog, readCatalog, renderCatalogNotice } from '../../images/catalog.js';

const shippedDir = path.join(repoRoot, 'images', 'catalog');
const SHA = 'a'.repeat(64);
const entry = (name: string, extra = '') =>
  `name: ${name}\nsummary: a user entry\nsource: { kind: url, url: "https://example.invalid/${name}.qcow2", sha256: ${SHA} }\nprovisioning: ignition\nuser: core\nmanages: [rpm-ostree]\n${extra}`;

async function cli(argv: string[], env: Record<string, string>) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  let stdout = '';
  let stderr = '';
  try {
    const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), isTTY: false });
    return { code, stdout, stderr };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('image catalog layers', () => {
  let tmp: string;
  let user: string;

  beforeEach(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-catalog-'));
    user = path.join(tmp, 'images');
    await fs.mkdir(user);
  });
  afterEach(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('a user entry with a shipped name overrides it, with a notice', async () => {
    await fs.writeFile(path.join(user, 'rhcos-4.x.yaml'), entry('rhcos-4.x'));
    const { catalog, notices } = await readCatalog([shippedDir, user]);
    const rhcos = catalog.get('rhcos-4.x')!;
    expect(rhcos.entry.source).to.deep.include({ kind: 'url', sha256: SHA });
    expect(rhcos.file).to.equal(path.join(user, 'rhcos-4.x.yaml'));
    expect(notices).to.deep.equal([{ kind: 'override', name: 'rhcos-4.x', file: path.join(user, 'rhcos-4.x.yaml'), replaces: 'images/catalog/rhcos-4.x.yaml' }]);
    expect(renderCatalogNotice(notices[0]!)).to.equal(`note: image 'rhcos-4.x' comes from ${path.join(user, 'rhcos-4.x.yaml')} (it overrides images/catalog/rhcos-4.x.yaml)\n`);
  });

  it('a later layer (BOOTPATH_CATALOG_DIR) overrides an earlier user layer', async () => {
    const second = path.join(tmp, 'second');
    await fs.mkdir(second);
    await fs.writeFile(path.join(user, 'mine.yaml'), entry('mine'));
    await fs.writeFile(path.join(second, 'mine.yaml'), entry('mine', 'memory: 3GiB\n'));
    const { catalog, notices } = await readCatalog([shippedDir, user, second]);
    expect(catalog.get('mine')!.entry.memory).to.equal('3GiB');
    expect(notices.map((n) => n.kind)).to.deep.equal(['override']);
  });

  it('one invalid user file leaves only its own entry out; the shipped entry it meant to replace is withheld', async () => {
    await fs.writeFile(path.join(user, 'good.yaml'), entry('good'));
    await fs.writeFile(path.join(user, 'broken.yaml'), entry('broken', 'colour: blue\n'));
    await fs.writeFile(path.join(user, 'fcos-stable.yaml'), entry('fcos-stable').replace(`sha256: ${SHA}`, 'sha256: nope'));
    const shipped = await readCatalog([shippedDir]);
    const { catalog, notices } = await readCatalog([shippedDir, user]);
    expect(catalog.has('good')).to.equal(true);
    expect(catalog.has('broken')).to.equal(false);
    expect(catalog.has('fcos-stable'), 'the user meant to replace it: not silently used').to.equal(false);
    expect(catalog.size).to.equal(shipped.catalog.size);
    const invalid = notices.filter((n) => n.kind === 'invalid');
    expect(invalid.map((n) => n.name).sort()).to.deep.equal(['broken', 'fcos-stable']);
    const text = invalid.map(renderCatalogNotice).join('');
    expect(text).to.contain(`${path.join(user, 'broken.yaml')}:7:1: unknown key 'colour'`);
    expect(text).to.contain("image 'fcos-stable' is unavailable until it is fixed (the entry in images/catalog/fcos-stable.yaml is not used in its place)");
  });

  it('a broken shipped entry still stops everything (a bug in bootpath, caught by validate)', async () => {
    const shipped = path.join(tmp, 'shipped');
    await fs.mkdir(shipped);
    await fs.writeFile(path.join(shipped, 'x.yaml'), entry('y'));
    const err = await readCatalog([shipped]).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(InputError);
    expect((err as InputError).render()).to.contain("name 'y' must equal the file's base name 'x'");
  });

  it('loadCatalog reports notices and returns the usable entries', async () => {
    await fs.writeFile(path.join(user, 'broken.yaml'), 'name: [\n');
    const lines: string[] = [];
    const catalog = await loadCatalog([shippedDir, user], (t) => lines.push(t));
    expect(catalog.has('testbed')).to.equal(true);
    expect(lines.join('')).to.match(/^warning: ignoring the invalid catalog file .*broken\.yaml; image 'broken' is left out/);
  });

  it('validate reports only the broken user file, and still checks every scenario against the usable images', async () => {
    await fs.writeFile(path.join(user, 'broken.yaml'), entry('broken', 'colour: blue\n'));
    const r = await cli(['validate'], { BOOTPATH_CATALOG_DIR: user, XDG_CONFIG_HOME: tmp });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain("broken.yaml:7:1: unknown key 'colour'");
    expect(r.stderr).to.not.contain('unknown image');
    expect(r.stderr.trim().split('\n')).to.have.length(2);
  });

  it('a run plan with an overriding user entry works and says where the image comes from', async () => {
    await fs.writeFile(path.join(user, 'rhcos-4.x.yaml'), entry('rhcos-4.x'));
    const r = await cli(['real-q4-rhcos-to-rhel10-bootc', '--dry-run'], { BOOTPATH_CATALOG_DIR: user, XDG_CONFIG_HOME: tmp });
    expect(r.stdout).to.contain(`sha256 ${SHA}`);
    expect(r.stdout).to.not.contain('duplicate image name');
  });

  it('the shipped RHCOS entry is pinned by the installer branch\'s stream metadata, never the mirror\'s replaced-in-place latest/ file', async () => {
    const { catalog } = await readCatalog([shippedDir]);
    const source = catalog.get('rhcos-4.x')!.entry.source;
    expect(source).to.deep.equal({
      kind: 'coreos-stream',
      stream: 'rhcos-4.18',
      'metadata-url': 'https://raw.githubusercontent.com/openshift/installer/release-4.18/data/data/coreos/rhcos.json',
      format: 'qcow2.gz',
    });
    for (const { entry } of catalog.values()) {
      if (entry.source.kind === 'url') expect(entry.source.url, entry.name).to.not.match(/\/latest\//);
    }
  });
});
