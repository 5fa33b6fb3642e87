import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isSameProcessAlive, processCmdline, processStartTime } from '../../vm/proc.js';
import { pidfilePath, reapOrphans, type PidfileRecord } from '../../vm/reaper.js';

/** A long-running process whose cmdline mentions `marker` (as QEMU's mentions its run dir). */
function startDummy(marker: string): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', marker], { stdio: 'ignore' });
}

async function waitStarted(child: ChildProcess): Promise<number> {
  for (let i = 0; i < 100; i++) {
    if (child.pid && processCmdline(child.pid)?.some((a) => a.includes('setInterval'))) return child.pid;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('dummy did not start');
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

  async function writeRecord(name: string, rec: PidfileRecord): Promise<string> {
    const file = pidfilePath('run', name, state);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, JSON.stringify(rec));
    return file;
  }

  it('reads process start times from /proc', () => {
    expect(processStartTime(process.pid)).to.be.a('number');
    expect(processStartTime(2 ** 22 + 7)).to.equal(null);
    expect(isSameProcessAlive(process.pid)).to.equal(true);
  });

  it('kills an orphan whose owner is gone, and only with matching identity and run dir', async () => {
    const runDir = path.join(state, 'runs', 'r1', 'orphan');
    const orphan = startDummy(runDir);
    const notOurs = startDummy(path.join(state, 'somewhere-else'));
    const ownerAlive = startDummy(path.join(state, 'runs', 'r2', 'live'));
    children.push(orphan, notOurs, ownerAlive);
    const [orphanPid, notOursPid, ownerAlivePid] = await Promise.all([waitStarted(orphan), waitStarted(notOurs), waitStarted(ownerAlive)]);
    const owner = await deadOwner();
    const base = { ownerPid: owner.pid, ownerStartTime: owner.start, createdAt: new Date().toISOString() };

    const f1 = await writeRecord('orphan', { ...base, pid: orphanPid, pidStartTime: processStartTime(orphanPid) ?? 0, runDir });
    const f2 = await writeRecord('not-ours', { ...base, pid: notOursPid, pidStartTime: processStartTime(notOursPid) ?? 0, runDir: path.join(state, 'runs', 'r9', 'x') });
    const f3 = await writeRecord('reused', { ...base, pid: notOursPid, pidStartTime: 12345, runDir: path.join(state, 'somewhere-else') });
    const f4 = await writeRecord('owner-alive', {
      pid: ownerAlivePid,
      pidStartTime: processStartTime(ownerAlivePid) ?? 0,
      ownerPid: process.pid,
      ownerStartTime: processStartTime(process.pid) ?? 0,
      runDir: path.join(state, 'runs', 'r2', 'live'),
      createdAt: new Date().toISOString(),
    });
    const f5 = await writeRecord('gone', { ...base, pid: owner.pid, pidStartTime: 1, runDir });

    const report = await reapOrphans({ stateDir: state });

    expect(report.killed.map((k) => k.pid)).to.deep.equal([orphanPid]);
    expect(isSameProcessAlive(orphanPid)).to.equal(false);
    expect(isSameProcessAlive(notOursPid)).to.equal(true);
    expect(isSameProcessAlive(ownerAlivePid)).to.equal(true);
    expect(report.removedStale.map((s) => path.basename(s.pidfile)).sort()).to.deep.equal(['run-gone.json', 'run-not-ours.json', 'run-reused.json']);
    expect(report.skipped.map((s) => path.basename(s.pidfile))).to.deep.equal(['run-owner-alive.json']);
    expect([f1, f2, f3, f5].map((f) => existsSync(f))).to.deep.equal([false, false, false, false]);
    expect(existsSync(f4)).to.equal(true);
  });

  it('returns an empty report when there is no state dir', async () => {
    expect(await reapOrphans({ stateDir: path.join(state, 'nope') })).to.deep.equal({ killed: [], removedStale: [], skipped: [] });
  });
});
