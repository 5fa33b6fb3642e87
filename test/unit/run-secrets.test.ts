/**
 * Private key material stays out of results — also when a machine fails to start — and under the
 * state dir only while its run lives; gc removes what a crashed run left and nothing else.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runPlans } from '../../harness/run/runner.js';
import { GuestMachine } from '../../harness/guest/machine.js';
import { listScenarioFiles, loadScenarioFiles } from '../../harness/scenario/load.js';
import { loadContext } from '../../harness/scenario/questions.js';
import type { RunPlan } from '../../harness/scenario/plan.js';
import { createTinyBaseDisk } from '../support/tiny-guest.js';
import { removeOrphanedRunSecrets, RunSecrets, runSecretsRoot } from '../../vm/run-secrets.js';
import { processStartTime } from '../../vm/proc.js';
import { filesWithPrivateKeys } from '../support/private-keys.js';

describe('run secrets', () => {
  let dir: string;
  let savedState: string | undefined;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-secrets-'));
    savedState = process.env.BOOTPATH_STATE_DIR;
    process.env.BOOTPATH_STATE_DIR = path.join(dir, 'state');
  });
  afterEach(async () => {
    if (savedState === undefined) delete process.env.BOOTPATH_STATE_DIR;
    else process.env.BOOTPATH_STATE_DIR = savedState;
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps a run key dir 0700 with an owner record, and removes it', async () => {
    const s = await RunSecrets.create('r1', path.join(dir, 'state'));
    expect(s.dir).to.equal(path.join(dir, 'state', 'runs', 'r1'));
    expect((await fs.stat(s.dir)).mode & 0o777).to.equal(0o700);
    const m = await s.machineDir('m1');
    expect((await fs.stat(m)).mode & 0o777).to.equal(0o700);
    expect(await s.machineDir('m1')).not.to.equal(m);
    const owner = JSON.parse(await fs.readFile(path.join(s.dir, 'owner.json'), 'utf8')) as { pid: number; startTime: number };
    expect(owner).to.include({ pid: process.pid, startTime: processStartTime(process.pid) });
    await s.remove();
    await fs.access(s.dir).then(() => expect.fail('still there'), () => undefined);
    await RunSecrets.create('../x', path.join(dir, 'state')).then(() => expect.fail('accepted ../x'), (e: Error) => expect(e.message).to.match(/not a plain directory name/));
  });

  it('gc removes key dirs of runs whose owner is gone, leaves live and just-created ones, follows no symlink', async function () {
    this.timeout(20_000);
    const state = path.join(dir, 'state');
    const live = await RunSecrets.create('live', state);
    // A real process that has exited: its pid and start time name nobody now.
    const child = spawn('true');
    const pid = child.pid!;
    const startTime = processStartTime(pid) ?? 1;
    await new Promise((r) => child.on('exit', r));
    const crashed = path.join(runSecretsRoot(state), 'crashed');
    await fs.mkdir(crashed, { recursive: true });
    await fs.writeFile(path.join(crashed, 'owner.json'), JSON.stringify({ pid, startTime, runId: 'crashed' }));
    await fs.writeFile(path.join(crashed, 'id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n');
    const unownedNew = path.join(runSecretsRoot(state), 'starting');
    await fs.mkdir(unownedNew);
    const unownedOld = path.join(runSecretsRoot(state), 'old-version');
    await fs.mkdir(unownedOld);
    await fs.utimes(unownedOld, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    // A symlink to a directory outside: neither followed nor removed.
    const outside = path.join(dir, 'outside');
    await fs.mkdir(outside);
    await fs.writeFile(path.join(outside, 'keep'), 'x');
    await fs.symlink(outside, path.join(runSecretsRoot(state), 'link'));

    const report = await removeOrphanedRunSecrets({ stateDir: state });
    expect(report.removed.sort()).to.deep.equal([crashed, unownedOld].sort());
    expect(report.skipped.map((s) => path.basename(s.dir)).sort()).to.deep.equal(['live', 'starting']);
    await fs.access(live.dir);
    await fs.access(path.join(outside, 'keep'));
    await live.remove();
  });

  it('with a work dir: the run owns <work-dir>/bootpath-<run>/ (0700) for machine disks, removes it with its keys, and gc removes a crashed run\'s', async function () {
    this.timeout(20_000);
    const state = path.join(dir, 'state');
    const work = path.join(dir, 'work');
    const s = await RunSecrets.create('r2', state, { workDir: work });
    expect(s.disksDir).to.equal(path.join(work, 'bootpath-r2'));
    const disks = (await s.machineDisksDir(path.join(dir, 'results', 'r2', 'runs', 'smoke'), 'default'))!;
    expect(disks).to.equal(path.join(work, 'bootpath-r2', 'smoke', 'machine-default'));
    expect((await fs.stat(s.disksDir!)).mode & 0o777).to.equal(0o700);
    expect((await fs.stat(disks)).mode & 0o777).to.equal(0o700);
    await s.remove();
    expect(await fs.readdir(work)).to.deep.equal([]);
    const plain = await RunSecrets.create('r3', state);
    expect(await plain.machineDisksDir('/x/runs/smoke', 'default')).to.equal(path.join(plain.dir, 'disks', 'smoke', 'machine-default'));
    await plain.remove();

    // A crashed run's disk folder goes with its keys; a forged record naming another directory
    // (wrong name, or the right name without the run's marker) removes nothing there.
    const dead = spawn('true');
    const pid = dead.pid!;
    const startTime = processStartTime(pid) ?? 1;
    await new Promise((r) => dead.on('exit', r));
    const crashedDisks = path.join(work, 'bootpath-crashed');
    await fs.mkdir(crashedDisks, { recursive: true });
    await fs.writeFile(path.join(crashedDisks, '.bootpath-run'), 'crashed\n');
    await fs.writeFile(path.join(crashedDisks, 'overlay.qcow2'), 'x');
    const victims = [path.join(dir, 'home', 'photos'), path.join(dir, 'home', 'bootpath-forged-marker')];
    for (const v of victims) {
      await fs.mkdir(v, { recursive: true });
      await fs.writeFile(path.join(v, 'keep'), 'x');
    }
    const record = async (runId: string, disksDir: string) => {
      const d = path.join(runSecretsRoot(state), runId);
      await fs.mkdir(d, { recursive: true });
      await fs.writeFile(path.join(d, 'owner.json'), JSON.stringify({ pid, startTime, runId, disks: disksDir }));
      return d;
    };
    const crashedKeys = await record('crashed', crashedDisks);
    await record('forged-name', victims[0]!);
    await record('forged-marker', victims[1]!);
    const report = await removeOrphanedRunSecrets({ stateDir: state });
    expect(report.removed).to.include.members([crashedDisks, crashedKeys]);
    expect(report.removed).to.not.include.members(victims);
    for (const v of victims) await fs.access(path.join(v, 'keep'));
    await fs.access(crashedDisks).then(() => expect.fail('crashed run disks still there'), () => undefined);
  });

  it('leaves no private key material in results or the state dir after a machine fails to start', async function () {
    this.timeout(60_000);
    const loaded = await loadScenarioFiles(await listScenarioFiles(), await loadContext());
    const smoke = loaded.flatMap((l) => l.plans).find((p) => p.id === 'smoke')!;
    // QEMU refuses this vCPU count at once: the start fails after the provisioning was written.
    const plan: RunPlan = { ...smoke, machines: smoke.machines.map((m) => ({ ...m, cpus: 100_000 })) };
    const disk = await createTinyBaseDisk(path.join(dir, 'base.raw'));
    const results = path.join(dir, 'results');
    const outcome = await runPlans(
      [plan],
      {
        resultsRoot: results, parallel: 1, retries: 0, failFast: false, keep: 'never', accel: 'tcg', accelReason: 'test', timeoutScale: 1, backend: 'qemu', shard: null,
        resolveImage: () => Promise.resolve({ name: 'testbed', diskPath: disk, format: 'raw', firmware: 'bios', provenance: { image: 'testbed', source: 'testbed', cacheHit: true, verifiedAt: new Date().toISOString() } }),
        host: { hostname: 'h', cpus: 1, memoryMiB: 1024, qemu: null, bootpathVersion: 'test' },
        signal: new AbortController().signal,
        runId: 'secrets-test',
        startGuest: (o) => GuestMachine.start(o),
      },
      () => [],
    );
    expect(outcome.summary.runs[0]?.verdict, outcome.summary.runs[0]?.message).to.equal('error');
    expect(outcome.summary.runs[0]?.message ?? '').to.match(/machine-start|could not start|CPUs|smp/i);
    expect(await filesWithPrivateKeys(results)).to.deep.equal([]);
    await fs.access(path.join(dir, 'state', 'runs', 'secrets-test')).then(() => expect.fail('run key dir left behind'), () => undefined);
  });
});
