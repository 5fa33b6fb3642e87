/**
 * Faults on real testbed machines, the way they happen to a user: the QEMU under a running step is
 * killed, and the filesystem under a machine's disk fills up mid-step. Each must end as an error
 * of the right kind (machine-died, machine-disk-full) with the cause in words, complete results,
 * only existing files named, and nothing left behind. Both runs go at once (~1.5 min under TCG).
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../core/paths.js';
import type { RunSummary } from '../../harness/results/model.js';
import { summaryProblems } from '../../harness/results/validate.js';
import { runChecked } from '../../vm/exec.js';
import { runSecretsRoot } from '../../vm/run-secrets.js';
import { stateDir } from '../../core/paths.js';
import { filesWithPrivateKeys } from '../support/private-keys.js';
import { processesMentioning } from '../support/processes.js';

const FAULTS = path.join(repoRoot, 'test', 'fixtures', 'faults');
/** What the fault scenarios' step prints on the guest console once it runs. */
const STEP_RUNNING = 'bootpath-fault-step-running';

interface Invocation {
  exitCode: number | null;
  output: string;
  summary: RunSummary;
  runDir: string;
}

/** Runs bootpath on one fault scenario; `whenRunning` is called once the step said it runs. */
async function invoke(scenario: string, resultsRoot: string, extra: string[], whenRunning: (consoleLog: string) => Promise<void>): Promise<Invocation> {
  let output = '';
  const child = spawn(process.execPath, ['bin/bootpath.js', path.join(FAULTS, scenario), '--reporter', 'line', '--results', resultsRoot, ...extra], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
  let done = false;
  void exited.then(() => (done = true));
  // Wait for the step's console line (the run folder appears once the run starts).
  // Generous: on a fresh machine the first invocation may build the testbed image (2.5–13 min seen).
  const deadline = Date.now() + 20 * 60_000;
  let consoleLog: string | null = null;
  while (!done && Date.now() < deadline) {
    consoleLog = findConsoleLog(resultsRoot);
    if (consoleLog && readFileSync(consoleLog, 'utf8').includes(STEP_RUNNING)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!done && consoleLog) await whenRunning(consoleLog);
  const exitCode = await exited;
  const runDir = path.join(resultsRoot, await fs.readlink(path.join(resultsRoot, 'latest')));
  const summary = JSON.parse(await fs.readFile(path.join(runDir, 'summary.json'), 'utf8')) as RunSummary;
  return { exitCode, output, summary, runDir };
}

function findConsoleLog(resultsRoot: string): string | null {
  if (!existsSync(resultsRoot)) return null;
  for (const run of readdirSync(resultsRoot)) {
    const runs = path.join(resultsRoot, run, 'runs');
    if (run === 'latest' || !existsSync(runs)) continue;
    for (const folder of readdirSync(runs)) {
      const log = path.join(runs, folder, 'machine-default', 'console-1.log');
      if (existsSync(log)) return log;
    }
  }
  return null;
}

const qemuMentioning = (needle: string): number[] => processesMentioning(needle, 'qemu-system');


/** The files the CLI's last `results:` line names exist in the run folder. */
function namedFilesExist(inv: Invocation): void {
  const line = inv.output.split('\n').filter((l) => l.startsWith('results: ')).at(-1) ?? '';
  const named = /\(([^)]*)\)\s*$/.exec(line)?.[1]?.split(', ') ?? [];
  expect(named.length, line).to.be.greaterThan(0);
  for (const f of named) expect(existsSync(path.join(inv.runDir, f)), f).to.equal(true);
}

describe('testbed faults: a killed machine and a full disk under a running step (real QEMU, TCG)', function () {
  this.timeout(30 * 60_000);
  let root: string;
  let smallFs: string | null = null;
  let killed: Invocation;
  let full: Invocation | null = null;
  let killedPid: number | null = null;

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-faults-'));
    const killedRun = invoke('fault-killed.yaml', path.join(root, 'killed'), [], async () => {
      const pids = qemuMentioning(path.join(root, 'killed'));
      expect(pids, 'the QEMU of the killed run').to.have.length(1);
      killedPid = pids[0]!;
      process.kill(killedPid, 'SIGKILL');
    });
    // A real full filesystem needs a mount of its own (root only; CI runs as root). It is larger
    // than the admission check's 1 GiB, and the test fills it, as another process would, once
    // the step runs.
    let fullRun: Promise<Invocation> | null = null;
    if (process.getuid?.() === 0) {
      smallFs = path.join(root, 'small-fs');
      await fs.mkdir(smallFs);
      await runChecked('mount', ['-t', 'tmpfs', '-o', 'size=1100m,mode=0700', 'tmpfs', smallFs]);
      const disks = smallFs;
      fullRun = invoke('fault-disk-full.yaml', path.join(root, 'full'), ['--work-dir', disks], async () => {
        await runChecked('fallocate', ['-l', '1090m', path.join(disks, 'filler')]);
      });
    }
    killed = await killedRun;
    full = fullRun ? await fullRun : null;
  });

  after(async () => {
    for (const pid of qemuMentioning(root)) process.kill(pid, 'SIGKILL');
    if (smallFs) await runChecked('umount', [smallFs]).catch(() => undefined);
    await fs.rm(root, { recursive: true, force: true });
  });

  it('QEMU killed under a running step: error machine-died with the exit status, not a dropped SSH connection', () => {
    expect(killedPid, `the step never ran:\n${killed.output.slice(-2000)}`).to.be.a('number');
    expect(killed.exitCode).to.equal(1);
    const r = killed.summary.runs[0]!;
    expect(r.verdict).to.equal('error');
    expect(r.errorKind, r.message).to.equal('machine-died');
    expect(r.message).to.match(new RegExp(`^machine default died: QEMU \\(pid ${String(killedPid)}\\) killed by signal SIGKILL without a shutdown request`));
    expect(r.steps.map((s) => s.status)).to.deep.equal(['error']);
    expect(summaryProblems(killed.summary)).to.deep.equal([]);
    namedFilesExist(killed);
  });

  it('the filesystem under the disk fills: error machine-disk-full naming the folder and its free space, within seconds', function () {
    if (!full) this.skip();
    const r = full.summary.runs[0]!;
    expect(full.exitCode).to.equal(1);
    expect(r.verdict).to.equal('error');
    expect(r.errorKind, r.message).to.equal('machine-disk-full');
    expect(r.message).to.match(/^machine default stopped: QEMU paused the guest because a write to its disk \S+ failed with no space left on the host filesystem \(.* free of 1\.1 GiB\); the disks live in \S+small-fs\/bootpath-/);
    expect(r.message).to.include('--work-dir DIR');
    // The guest paused: it is the failed write that ends the step, not a keepalive timeout or the 10 min scenario timeout.
    expect(r.steps[0]!.status).to.equal('error');
    expect(r.durationMs).to.be.below(5 * 60_000);
    expect(summaryProblems(full.summary)).to.deep.equal([]);
    namedFilesExist(full);
    // Nothing half-written next to the results, and the run's disk folder went with the run.
    expect(readdirSync(full.runDir).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
    expect(readdirSync(smallFs!).filter((f) => f.startsWith('bootpath-'))).to.deep.equal([]);
  });

  it('leaves no QEMU behind, no private key in the results, and no key folder of these runs', async () => {
    expect(qemuMentioning(root)).to.deep.equal([]);
    expect(await filesWithPrivateKeys(root)).to.deep.equal([]);
    for (const inv of [killed, full]) {
      if (inv) expect(existsSync(path.join(runSecretsRoot(stateDir()), inv.summary.runId)), inv.summary.runId).to.equal(false);
    }
  });
});

/**
 * The harness itself SIGKILLed (no handler runs, no exit hook) while its machine boots and while a
 * step runs: its QEMU dies with it (pdeathsig), the run's keys stay under the state dir until
 * `bootpath gc`, and after gc no private key is left anywhere — neither in results nor in the state
 * dir. Both runs go at once with a state dir of their own, so gc touches nothing else.
 */
describe('testbed faults: the harness SIGKILLed during boot and mid-step, then gc (real QEMU, TCG)', function () {
  this.timeout(30 * 60_000);
  let root: string;
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, BOOTPATH_STATE_DIR: path.join(root, 'state') });

  async function killHarness(phase: 'boot' | 'step'): Promise<{ resultsRoot: string; killedAt: string }> {
    const resultsRoot = path.join(root, phase);
    const child = spawn(process.execPath, ['bin/bootpath.js', path.join(FAULTS, 'fault-killed.yaml'), '--reporter', 'quiet', '--results', resultsRoot], { cwd: repoRoot, stdio: 'ignore', env: env() });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const deadline = Date.now() + 20 * 60_000;
    let killedAt = 'never';
    while (Date.now() < deadline && child.exitCode === null) {
      const log = findConsoleLog(resultsRoot);
      const text = log ? readFileSync(log, 'utf8') : '';
      // boot: the initrd is up (QEMU runs, Ignition is about to provision), the step has not started
      const due = phase === 'boot' ? text.includes('(Initramfs)') && !text.includes(STEP_RUNNING) : text.includes(STEP_RUNNING);
      if (due) {
        killedAt = phase === 'boot' ? `console line ${text.split('\n').length}` : 'the step running';
        child.kill('SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await exited;
    return { resultsRoot, killedAt };
  }

  let killedRuns: { resultsRoot: string; killedAt: string }[];

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-harness-kill-'));
    killedRuns = await Promise.all([killHarness('boot'), killHarness('step')]);
  });

  after(async () => {
    for (const pid of qemuMentioning(root)) process.kill(pid, 'SIGKILL');
    await fs.rm(root, { recursive: true, force: true });
  });

  it('the QEMUs die with the harness, and gc removes the keys the killed runs left; no private key survives', async () => {
    for (const r of killedRuns) expect(r.killedAt, r.resultsRoot).to.not.equal('never');
    const deadline = Date.now() + 10_000;
    while (qemuMentioning(root).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(qemuMentioning(root), 'QEMU outlived its SIGKILLed harness').to.deep.equal([]);
    // Before gc the killed runs' client keys are still in the state dir (nothing could remove them) …
    const runsDir = runSecretsRoot(path.join(root, 'state'));
    expect(readdirSync(runsDir), 'run key dirs left by the killed harnesses').to.have.length(2);
    for (const r of killedRuns) expect(await filesWithPrivateKeys(r.resultsRoot), r.resultsRoot).to.deep.equal([]);
    // … and gc, finding their owners gone, removes them.
    const gc = spawn(process.execPath, ['bin/bootpath.js', 'gc'], { cwd: repoRoot, stdio: 'ignore', env: env() });
    expect(await new Promise((resolve) => gc.on('exit', resolve))).to.equal(0);
    expect(readdirSync(runsDir)).to.deep.equal([]);
    expect(await filesWithPrivateKeys(root)).to.deep.equal([]);
  });
});

