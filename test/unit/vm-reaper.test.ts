import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkPidfileRecord, identityMismatch, isStrictlyInside, markedProcessName, newMachineMarker, pidfileName, runDirProblem } from '../../vm/machine-identity.js';
import { isSameProcessAlive, processCmdline, processStartTime } from '../../vm/proc.js';
import { buildQemuArgs } from '../../vm/qemu/command.js';
import { machinesStateDir, reapOrphans, type PidfileRecord } from '../../vm/reaper.js';

/**
 * A long-running process whose command line looks like a bootpath QEMU's where it matters:
 * `-name bootpath-<run>-<machine>-<marker>` and a console file inside its run dir.
 */
function startFakeMachine(name: string, consoleLog: string, overlay?: string): ChildProcess {
  const args = ['-e', 'setInterval(() => {}, 1e6)', '--', '-name', `${name},process=bootpath-m`, '-chardev', `file,id=serial0,path=${consoleLog}`];
  if (overlay) args.push('-drive', `if=none,id=disk0,format=qcow2,file=${overlay}`);
  return spawn(process.execPath, args, { stdio: 'ignore' });
}

async function waitStarted(child: ChildProcess, word: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    if (child.pid && processCmdline(child.pid)?.some((a) => a.includes(word))) return child.pid;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`process with ${word} did not start`);
}

/** A pid + start time of a process that has exited. */
async function deadOwner(): Promise<{ pid: number; start: number }> {
  const c = spawn('true');
  await new Promise((r) => c.on('exit', r));
  return { pid: c.pid ?? 999_999, start: 1 };
}

describe('vm/reaper pidfiles', () => {
  let state: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => (state = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-reaper-'))));
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    await fs.rm(state, { recursive: true, force: true });
  });

  /** Write a pidfile under the name bootpath gives it (or `fileName`), with any content. */
  async function writeRaw(fileName: string, rec: unknown): Promise<string> {
    const file = path.join(machinesStateDir(state), fileName);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, typeof rec === 'string' ? rec : JSON.stringify(rec));
    return file;
  }
  async function writeRecord(rec: PidfileRecord): Promise<string> {
    return writeRaw(pidfileName(rec.runId, rec.machine, rec.marker), rec);
  }

  it('reads process start times from /proc', () => {
    expect(processStartTime(process.pid)).to.be.a('number');
    expect(processStartTime(2 ** 22 + 7)).to.equal(null);
    expect(isSameProcessAlive(process.pid)).to.equal(true);
  });

  it('never kills an unrelated process named by a forged or damaged pidfile (a real /bin/sleep survives)', async () => {
    const sleeper = spawn('/bin/sleep', ['1000'], { stdio: 'ignore' });
    children.push(sleeper);
    const pid = await waitStarted(sleeper, '1000');
    const pidStartTime = processStartTime(pid) ?? 0;
    const owner = await deadOwner();
    const base = { pid, pidStartTime, ownerPid: owner.pid, ownerStartTime: owner.start, createdAt: new Date().toISOString() };
    // The pidfiles the old reaper followed: runDir of "", "/", a word that the sleep's argv contains.
    const legacy = ['', '/', 'sleep', '/bin', 'bin/sleep', '/usr/../bin/x', '/tmp/'];
    const files: string[] = [];
    for (const [i, runDir] of legacy.entries()) files.push(await writeRaw(`legacy-${i}.json`, { ...base, runDir }));
    // Well-formed records, but the sleep's command line proves none of them.
    const marker = newMachineMarker();
    const forged = { ...base, runId: 'r', machine: 'm', marker, runDir: '/bin/sleep-run' };
    files.push(await writeRecord(forged));
    files.push(await writeRecord({ ...forged, marker: newMachineMarker(), runDir: '/usr/bin' }));
    // Forged records with bad shapes.
    files.push(await writeRaw(pidfileName('r', 'm', newMachineMarker()), { ...forged })); // file name ≠ record
    files.push(await writeRecord({ ...forged, marker: newMachineMarker(), runDir: '/' }));
    files.push(await writeRecord({ ...forged, marker: newMachineMarker(), runDir: '' }));
    files.push(await writeRaw('garbage.json', '{"pid": '));
    files.push(await writeRaw('huge.json', JSON.stringify({ ...base, runDir: '/x/y', pad: 'x'.repeat(100_000) })));
    // A FIFO named like a pidfile: reading it would block gc forever.
    await new Promise<void>((resolve, reject) => {
      const mk = spawn('mkfifo', [path.join(machinesStateDir(state), 'fifo.json')]);
      mk.on('exit', (code) => (code === 0 ? resolve() : reject(new Error('mkfifo failed'))));
    });
    await fs.symlink('/dev/zero', path.join(machinesStateDir(state), 'zero.json'));

    const report = await reapOrphans({ stateDir: state });

    expect(report.killed).to.deep.equal([]);
    expect(isSameProcessAlive(pid, pidStartTime), 'the unrelated sleep survives').to.equal(true);
    const reasons = [...report.skipped, ...report.removedStale].map((s) => `${path.basename(s.pidfile)}: ${s.reason}`).join('\n');
    for (let i = 0; i < legacy.length; i++) expect(reasons).to.match(new RegExp(`legacy-${i}.json: not a valid bootpath machine pidfile`));
    expect(reasons).to.include('garbage.json: unreadable');
    expect(reasons).to.match(/huge.json: larger than/);
    expect(reasons).to.include('fifo.json: not a regular file');
    expect(reasons).to.include('zero.json: not a regular file');
    expect(reasons).to.include(`does not carry the machine marker ${marker}`);
    expect(reasons).to.include('file name does not match its record');
    expect(reasons).to.include('the root or a root-level directory');
    expect(reasons).to.include('runDir is empty');
    // Files that fail validation are left for a person to look at; a proven non-match is removed.
    expect(existsSync(files[0] ?? '')).to.equal(true);
  });

  it('kills an orphan that proves its identity, and nothing that only looks like it', async () => {
    const owner = await deadOwner();
    const runDir = path.join(state, 'results', 'id', 'runs', 'r1', 'machine-m');
    const marker = newMachineMarker();
    const overlay = path.join(runDir, 'overlay.qcow2');
    const orphan = startFakeMachine(markedProcessName('r1', 'm', marker), path.join(runDir, 'console-1.log'), overlay);
    // Right marker, but its files are in a sibling folder whose name starts with the run dir's.
    const evilMarker = newMachineMarker();
    const prefix = startFakeMachine(markedProcessName('r1', 'm', evilMarker), `${runDir}-evil/console-1.log`);
    // Right run dir, another machine's marker.
    const otherMarker = newMachineMarker();
    const other = startFakeMachine(markedProcessName('r1', 'm', newMachineMarker()), path.join(runDir, 'console-1.log'));
    // Owner alive: another run's machine.
    const liveMarker = newMachineMarker();
    const live = startFakeMachine(markedProcessName('r2', 'm', liveMarker), path.join(state, 'r2', 'x', 'console-1.log'));
    children.push(orphan, prefix, other, live);
    const [orphanPid, prefixPid, otherPid, livePid] = await Promise.all([orphan, prefix, other, live].map((c) => waitStarted(c, 'setInterval')));
    const rec = (pid: number, m: string, dir: string, extra: Partial<PidfileRecord> = {}): PidfileRecord => ({
      pid: pid ?? 0,
      pidStartTime: processStartTime(pid ?? 0) ?? 0,
      ownerPid: owner.pid,
      ownerStartTime: owner.start,
      runDir: dir,
      runId: 'r1',
      machine: 'm',
      marker: m,
      createdAt: new Date().toISOString(),
      ...extra,
    });
    const fOrphan = await writeRecord(rec(orphanPid ?? 0, marker, runDir, { overlay }));
    const fPrefix = await writeRecord(rec(prefixPid ?? 0, evilMarker, runDir));
    const fOther = await writeRecord(rec(otherPid ?? 0, otherMarker, runDir));
    const fLive = await writeRecord(
      rec(livePid ?? 0, liveMarker, path.join(state, 'r2', 'x'), { runId: 'r2', ownerPid: process.pid, ownerStartTime: processStartTime(process.pid) ?? 0 }),
    );
    const fReused = await writeRecord(rec(otherPid ?? 0, newMachineMarker(), runDir, { pidStartTime: 12345 }));

    const report = await reapOrphans({ stateDir: state });

    expect(report.killed.map((k) => k.pid)).to.deep.equal([orphanPid]);
    expect(isSameProcessAlive(orphanPid ?? 0)).to.equal(false);
    for (const pid of [prefixPid, otherPid, livePid]) expect(isSameProcessAlive(pid ?? 0), `pid ${pid} survives`).to.equal(true);
    const stale = report.removedStale.map((s) => `${path.basename(s.pidfile)}: ${s.reason}`).join('\n');
    expect(stale).to.include(`${path.basename(fPrefix)}: process ${prefixPid} is not this machine (it has no file inside ${runDir}`);
    expect(stale).to.include(`${path.basename(fOther)}: process ${otherPid} is not this machine (its command line does not carry the machine marker`);
    expect(stale).to.include(`${path.basename(fReused)}: process ${otherPid} is gone`);
    expect(report.skipped.map((s) => s.pidfile)).to.deep.equal([fLive]);
    expect([fOrphan, fPrefix, fOther, fReused].map((f) => existsSync(f))).to.deep.equal([false, false, false, false]);
    expect(existsSync(fLive)).to.equal(true);
  });

  it('returns an empty report when there is no state dir', async () => {
    expect(await reapOrphans({ stateDir: path.join(state, 'nope') })).to.deep.equal({ killed: [], removedStale: [], skipped: [] });
  });
});

describe('vm/machine-identity', () => {
  it('accepts only absolute, normalised run dirs below the root level', () => {
    for (const bad of ['', '/', 'word', 'a/b', '/tmp', '/tmp/', '/a/../b', '/a/./b', '/a\nb/c', '/a/b\u0000']) expect(runDirProblem(bad), JSON.stringify(bad)).to.be.a('string');
    for (const good of ['/tmp/x', '/home/u/results/2026/runs/smoke/machine-m']) expect(runDirProblem(good)).to.equal(null);
  });

  it('tells containment by path components, not by string prefix', () => {
    expect(isStrictlyInside('/r/run', '/r/run/console-1.log')).to.equal(true);
    expect(isStrictlyInside('/r/run', '/r/run/..foo')).to.equal(true);
    expect(isStrictlyInside('/r/run', '/r/run-evil/x')).to.equal(false);
    expect(isStrictlyInside('/r/run', '/r/run')).to.equal(false);
    expect(isStrictlyInside('/r/run', '/r/run/../x')).to.equal(false);
    expect(isStrictlyInside('/r/run', 'run/x')).to.equal(false);
  });

  it("matches the command line QEMU really gets: the marker in -name, the console in the run dir, the overlay", () => {
    const marker = newMachineMarker();
    const runDir = '/res/id/runs/smoke/machine-m,1';
    const argv = [
      '/usr/bin/qemu-system-x86_64',
      ...buildQemuArgs({
        qemuBinary: 'qemu',
        accel: 'tcg',
        runId: 'smoke',
        machineName: 'm',
        marker,
        memoryMiB: 1024,
        cpus: 1,
        overlay: `${runDir}/overlay.qcow2`,
        consoleLog: `${runDir}/console-1.log`,
        qmp: { fd: 3 },
        hostPort: 2222,
        noReboot: true,
      }),
    ];
    const id = { pid: 2, pidStartTime: 1, ownerPid: 3, ownerStartTime: 1, runDir, runId: 'smoke', machine: 'm', marker, overlay: `${runDir}/overlay.qcow2` };
    expect(identityMismatch(id, argv)).to.equal(null);
    expect(identityMismatch({ ...id, marker: newMachineMarker() }, argv)).to.match(/machine marker/);
    expect(identityMismatch({ ...id, runDir: '/res/id/runs/other' }, argv)).to.match(/no file inside/);
    expect(identityMismatch({ ...id, overlay: '/elsewhere/overlay.qcow2' }, argv)).to.match(/overlay/);
    expect(identityMismatch(id, null)).to.match(/cannot be read/);
  });

  it('validates a record against the name of the file it was found in', () => {
    const marker = newMachineMarker();
    const rec = { pid: 10, pidStartTime: 5, ownerPid: 11, ownerStartTime: 6, runDir: '/a/b', runId: 'r', machine: 'm', marker };
    expect(checkPidfileRecord(rec, pidfileName('r', 'm', marker))).to.deep.equal({ ok: true, value: rec });
    const bad = (patch: Record<string, unknown>, name = pidfileName('r', 'm', marker)): string => {
      const c = checkPidfileRecord({ ...rec, ...patch }, name);
      return c.ok ? 'ok' : c.reason;
    };
    expect(bad({ pid: 1 })).to.match(/pid/);
    expect(bad({ pid: -5 })).to.match(/pid/);
    expect(bad({ pid: 1.5 })).to.match(/pid/);
    expect(bad({ pidStartTime: 0 })).to.match(/start times/);
    expect(bad({ marker: 'abc' })).to.match(/marker/);
    expect(bad({ runId: '../x' })).to.match(/runId/);
    expect(bad({ overlay: 'rel.qcow2' })).to.match(/overlay/);
    expect(bad({}, 'other.json')).to.match(/file name/);
    expect(checkPidfileRecord([rec], 'x.json').ok).to.equal(false);
  });
});
