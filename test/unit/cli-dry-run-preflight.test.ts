/** `--dry-run` names what would make a run fail before anything boots, and exits accordingly. */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { main } from '../../harness/cli/main.js';
import { preflight } from '../../harness/cli/preflight.js';
import { loadCatalog } from '../../images/catalog.js';
import { repoRoot } from '../../core/paths.js';
import { loadScenarioFile } from '../../harness/scenario/load.js';
import { loadQuestions } from '../../harness/scenario/questions.js';
import type { RunPlan } from '../../harness/scenario/plan.js';

const SHA = 'b'.repeat(64);
const image = (name: string, source: string, extra = '') => `name: ${name}\nsummary: test image\nsource: ${source}\nprovisioning: ignition\nuser: core\nmanages: [rpm-ostree, bootc]\n${extra}`;

describe('--dry-run preflight', () => {
  let tmp: string;
  let catalogDir: string;
  let cacheDir: string;
  let env: Record<string, string | undefined>;

  const scenario = async (name: string, imageName: string, steps = '  - reboot\n') => {
    const file = path.join(tmp, `${name}.yaml`);
    await fs.writeFile(file, `name: ${name}\nsummary: preflight test\nmachine: { image: ${imageName} }\nsteps:\n${steps}`);
    return file;
  };
  const cli = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), isTTY: false });
    return { code, stdout, stderr };
  };
  const plansOf = async (file: string): Promise<RunPlan[]> => {
    const catalog = await loadCatalog([path.join(repoRoot, 'images', 'catalog'), catalogDir], () => {});
    const questions = await loadQuestions();
    return (await loadScenarioFile(file, { catalog, questionIds: new Set(questions.map((q) => q.id)) })).plans;
  };

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-preflight-'));
    catalogDir = path.join(tmp, 'catalog');
    cacheDir = path.join(tmp, 'cache');
    await fs.mkdir(catalogDir);
    await fs.mkdir(cacheDir);
    await fs.writeFile(path.join(catalogDir, 'unpinned.yaml'), image('unpinned', '{ kind: url, url: "https://example.invalid/disk.qcow2" }'));
    await fs.writeFile(path.join(catalogDir, 'pinned.yaml'), image('pinned', `{ kind: url, url: "https://example.invalid/disk.qcow2", sha256: ${SHA} }`));
    await fs.writeFile(path.join(catalogDir, 'built.yaml'), image('built', '{ kind: oci, image: "quay.io/example/bootc:1" }', 'credentials: { env: BOOTPATH_PREFLIGHT_AUTH }\n'));
    env = { BOOTPATH_CATALOG_DIR: process.env.BOOTPATH_CATALOG_DIR, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME, BOOTPATH_CACHE_DIR: process.env.BOOTPATH_CACHE_DIR };
    Object.assign(process.env, { BOOTPATH_CATALOG_DIR: catalogDir, XDG_CONFIG_HOME: tmp, BOOTPATH_CACHE_DIR: cacheDir });
  });

  after(async () => {
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('an unpinned URL source fails the dry run (exit 2) unless --insecure-no-checksum', async () => {
    const file = await scenario('pf-unpinned', 'unpinned');
    const r = await cli([file, '--dry-run']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('would fail before booting (1 problem):');
    expect(r.stderr).to.contain("image 'unpinned'");
    expect(r.stderr).to.contain('without a pinned sha256');
    expect(r.stderr).to.contain('affects: pf-unpinned');
    const insecure = await cli([file, '--dry-run', '--insecure-no-checksum']);
    expect(insecure.code).to.equal(0);
    expect(insecure.stderr).to.not.contain('would fail');
    const pinned = await cli([await scenario('pf-pinned', 'pinned'), '--dry-run']);
    expect(pinned.code).to.equal(0);
  });

  it('a missing copy source (a secret) is named with its step; once it exists the plan is clean', async () => {
    const file = await scenario('pf-copy', 'pinned', '  - copy: { src: secrets/token.json, dest: /tmp/token.json }\n  - reboot\n');
    const r = await cli([file, '--dry-run', '--json']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(`step 1 (copy secrets/token.json → guest:/tmp/token.json) of ${file} copies ${path.join(tmp, 'secrets', 'token.json')}, which does not exist — a secret is never in the repository`);
    const plans = JSON.parse(r.stdout) as { id: string; estimatedCost: number; preflight: { kind: string; runs: string[] }[] }[];
    expect(plans[0]!.preflight.map((p) => p.kind)).to.deep.equal(['input']);
    expect(plans[0]!.estimatedCost).to.be.greaterThan(0);
    await fs.mkdir(path.join(tmp, 'secrets'), { recursive: true });
    await fs.writeFile(path.join(tmp, 'secrets', 'token.json'), '{}');
    const ok = await cli([file, '--dry-run', '--json']);
    expect(ok.code).to.equal(0);
    expect((JSON.parse(ok.stdout) as { preflight: unknown[] }[])[0]!.preflight).to.deep.equal([]);
  });

  it('an image built with podman on a host without podman is a host problem (exit 3) with the install command', async () => {
    const plans = await plansOf(await scenario('pf-oci', 'built'));
    const emptyPath = path.join(tmp, 'empty-bin');
    await fs.mkdir(emptyPath, { recursive: true });
    const auth = path.join(tmp, 'auth.json');
    await fs.writeFile(auth, '{}');
    const problems = await preflight(plans, { insecureNoChecksum: false, offline: false, cacheDir, env: { PATH: emptyPath, BOOTPATH_PREFLIGHT_AUTH: auth } });
    expect(problems).to.have.length(1);
    const p = problems[0]!;
    expect(p.kind).to.equal('host');
    expect(p.message).to.contain("image 'built' (quay.io/example/bootc:1): podman is needed");
    if (p.kind === 'host') expect(p.remedy).to.match(/install podman/);
    // with podman on PATH (only its presence is checked before anything runs) the host is fine
    const bin = path.join(tmp, 'bin');
    await fs.mkdir(bin, { recursive: true });
    await fs.writeFile(path.join(bin, 'podman'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    expect(await preflight(plans, { insecureNoChecksum: false, offline: false, cacheDir, env: { PATH: bin, BOOTPATH_PREFLIGHT_AUTH: auth } })).to.deep.equal([]);
  });

  it('registry credentials that are not set or do not exist are flagged; --offline needs neither podman nor credentials, only a cached disk', async () => {
    const plans = await plansOf(await scenario('pf-oci-auth', 'built'));
    const bin = path.join(tmp, 'bin');
    const unset = await preflight(plans, { insecureNoChecksum: false, offline: false, cacheDir, env: { PATH: bin } });
    expect(unset.map((p) => p.message)).to.deep.equal([`image 'built' needs registry credentials: set BOOTPATH_PREFLIGHT_AUTH to a podman auth file (podman login --authfile FILE <registry>) — credentials.env in ${path.join(catalogDir, 'built.yaml')}`]);
    const missing = await preflight(plans, { insecureNoChecksum: false, offline: false, cacheDir, env: { PATH: bin, BOOTPATH_PREFLIGHT_AUTH: path.join(tmp, 'nope.json') } });
    expect(missing.map((p) => p.message)).to.deep.equal(["image 'built': the registry auth file named by $BOOTPATH_PREFLIGHT_AUTH does not exist"]);
    const offline = await preflight(plans, { insecureNoChecksum: false, offline: true, cacheDir, env: { PATH: bin } });
    expect(offline.map((p) => p.message)).to.deep.equal(["image 'built' is not in the cache and --offline forbids fetching it; fetch it while online with: npm run scenario -- images pull built"]);
  });

  it('the shipped real library plans clean (the nightly can pass) and the entitled scenario names its secret', async () => {
    const real = await cli(['--tag', 'real', '--dry-run']);
    expect(real.stderr).to.not.contain('would fail');
    expect(real.code).to.equal(0);
    const entitled = await cli(['--tag', 'entitled', '--dry-run']);
    if (await fs.stat(path.join(repoRoot, 'scenarios', 'secrets', 'redhat-auth.json')).then(() => false, () => true)) {
      expect(entitled.code).to.equal(2);
      expect(entitled.stderr).to.contain('scenarios/secrets/redhat-auth.json, which does not exist');
    }
  });

  it('--dry-run --shard i/n plans only that shard, and the shards together plan every run', async () => {
    const all = JSON.parse((await cli(['--tag', 'testbed', '--dry-run', '--json'])).stdout) as { id: string }[];
    const parts = await Promise.all([1, 2, 3].map(async (i) => (JSON.parse((await cli(['--tag', 'testbed', '--dry-run', '--json', '--shard', `${i}/3`])).stdout) as { id: string }[]).map((p) => p.id)));
    expect(parts.every((p) => p.length > 0 && p.length < all.length)).to.equal(true);
    expect(parts.flat().sort()).to.deep.equal(all.map((p) => p.id).sort());
  });
});
