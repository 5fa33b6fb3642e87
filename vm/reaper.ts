import { promises as fs, rmSync } from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../core/atomic.js';
import { ExitCode, errorMessage } from '../core/errors.js';
import { stateDir } from '../core/paths.js';
import { checkPidfileRecord, identityMismatch, pidfileName, type Checked, type MachineIdentity } from './machine-identity.js';
import { isSameProcessAlive, processCmdline, processStartTime } from './proc.js';

/**
 * Teardown that holds on success, failure, timeout, Ctrl-C and crash.
 *
 * 1. In-process registry of live QEMU processes: SIGINT/SIGTERM handlers and a last-chance
 *    process 'exit' hook SIGKILL them synchronously (async work does not run once exit begins).
 * 2. Pidfiles under <stateDir>/machines/: if bootpath itself is SIGKILLed (and setpriv's pdeathsig
 *    was unavailable), the next run or `bootpath gc` reaps the orphans — identified by pid + start
 *    time + a cmdline that carries the machine's unique marker and a file in its run dir, never by
 *    process name (vm/machine-identity.ts).
 */

/** A machine's pidfile: the identity the reaper checks before it kills anything (vm/machine-identity.ts). */
export interface PidfileRecord extends MachineIdentity {
  createdAt: string;
}

export function machinesStateDir(dir: string = stateDir()): string {
  return path.join(dir, 'machines');
}

export function pidfilePath(runId: string, machine: string, marker: string, dir: string = stateDir()): string {
  return path.join(machinesStateDir(dir), pidfileName(runId, machine, marker));
}

/** Write the pidfile for a QEMU process this process just started (its `-name` carries `marker`). */
export async function writePidfile(
  file: string,
  rec: { pid: number; runDir: string; runId: string; machine: string; marker: string; overlay?: string },
): Promise<PidfileRecord> {
  const pidStartTime = processStartTime(rec.pid);
  const ownerStartTime = processStartTime(process.pid);
  if (pidStartTime === null || ownerStartTime === null) throw new Error(`cannot read /proc start time of pid ${rec.pid}`);
  const record: PidfileRecord = {
    pid: rec.pid,
    pidStartTime,
    ownerPid: process.pid,
    ownerStartTime,
    runDir: rec.runDir,
    runId: rec.runId,
    machine: rec.machine,
    marker: rec.marker,
    ...(rec.overlay !== undefined ? { overlay: rec.overlay } : {}),
    createdAt: new Date().toISOString(),
  };
  await writeJsonAtomic(file, record);
  return record;
}

// ---------------------------------------------------------------------------------------------
// In-process registry

interface LiveProcess {
  pid: number;
  pidfile: string | null;
  label: string;
}

const live = new Map<number, LiveProcess>();
let exitHookInstalled = false;

/** Track a live QEMU process; returns the function that stops tracking it. */
export function registerLiveProcess(entry: LiveProcess): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers must be synchronous: a plain SIGKILL per child is.
    process.on('exit', () => killAllLiveSync());
  }
  live.set(entry.pid, entry);
  return () => {
    if (live.get(entry.pid) === entry) live.delete(entry.pid);
  };
}

export function liveProcessCount(): number {
  return live.size;
}

/** SIGKILL every registered QEMU and remove its pidfile, synchronously. Returns how many were signalled. */
export function killAllLiveSync(): number {
  let n = 0;
  for (const entry of live.values()) {
    try {
      process.kill(entry.pid, 'SIGKILL');
      n++;
    } catch {
      // already gone
    }
    if (entry.pidfile) rmSync(entry.pidfile, { force: true });
  }
  live.clear();
  return n;
}

export interface SignalHandlerOptions {
  /** Called (synchronously) after the machines are killed, before exiting; e.g. to flush a results file. */
  onSignal?: (signal: NodeJS.Signals) => void;
  /** Exit after handling (default true, with code 130). */
  exit?: boolean;
}

/**
 * On SIGINT/SIGTERM: kill all live machines of this process at once, then exit with 130.
 * Returns a function that uninstalls the handlers.
 */
export function installSignalHandlers(opts: SignalHandlerOptions = {}): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    killAllLiveSync();
    try {
      opts.onSignal?.(signal);
    } finally {
      if (opts.exit !== false) process.exit(ExitCode.interrupted);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

// ---------------------------------------------------------------------------------------------
// Orphan reaping

export interface ReapReport {
  /** Orphaned QEMU processes that were killed. */
  killed: { pid: number; runDir: string; pidfile: string }[];
  /** Pidfiles whose process was already gone (or whose pid now belongs to someone else). */
  removedStale: { pidfile: string; reason: string }[];
  /** Pidfiles left alone: owner still running, unreadable file… */
  skipped: { pidfile: string; reason: string }[];
}

/** A pidfile is a few hundred bytes; anything bigger, or not a regular file, is not one of ours. */
const MAX_PIDFILE_BYTES = 64 * 1024;

async function readPidfile(file: string): Promise<Checked<unknown>> {
  let st;
  try {
    st = await fs.lstat(file);
  } catch (err) {
    return { ok: false, reason: `unreadable: ${errorMessage(err)}` };
  }
  if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
  if (st.size > MAX_PIDFILE_BYTES) return { ok: false, reason: `larger than ${MAX_PIDFILE_BYTES} bytes` };
  try {
    return { ok: true, value: JSON.parse(await fs.readFile(file, 'utf8')) as unknown };
  } catch (err) {
    return { ok: false, reason: `unreadable: ${errorMessage(err)}` };
  }
}

async function waitGone(pid: number, startTime: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isSameProcessAlive(pid, startTime)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isSameProcessAlive(pid, startTime);
}

/**
 * Kill QEMU processes that bootpath started and whose owner process is gone; remove stale pidfiles.
 * Safe to run while other bootpath runs are active: their pidfiles name a live owner.
 */
export async function reapOrphans(opts: { stateDir?: string } = {}): Promise<ReapReport> {
  const dir = machinesStateDir(opts.stateDir ?? stateDir());
  const report: ReapReport = { killed: [], removedStale: [], skipped: [] };
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => n.endsWith('.json'));
  } catch {
    return report; // no state dir yet: nothing to reap
  }
  for (const name of names) {
    const pidfile = path.join(dir, name);
    const raw = await readPidfile(pidfile);
    if (!raw.ok) {
      report.skipped.push({ pidfile, reason: raw.reason });
      continue;
    }
    // A pidfile that fails validation is never followed: not even its pid is looked at.
    const checked = checkPidfileRecord(raw.value, name);
    if (!checked.ok) {
      report.skipped.push({ pidfile, reason: `not a valid bootpath machine pidfile (${checked.reason}); not followed` });
      continue;
    }
    const rec = checked.value;
    if (rec.pid === process.pid || rec.pid === process.ppid) {
      report.skipped.push({ pidfile, reason: `names this process or its parent (${rec.pid}); not followed` });
      continue;
    }
    if (isSameProcessAlive(rec.ownerPid, rec.ownerStartTime)) {
      report.skipped.push({ pidfile, reason: `owner process ${rec.ownerPid} is still running` });
      continue;
    }
    if (!isSameProcessAlive(rec.pid, rec.pidStartTime)) {
      await fs.rm(pidfile, { force: true });
      report.removedStale.push({ pidfile, reason: `process ${rec.pid} is gone` });
      continue;
    }
    const mismatch = identityMismatch(rec, processCmdline(rec.pid));
    if (mismatch !== null) {
      // Same pid and start time but not provably this machine: never kill what we cannot prove is ours.
      await fs.rm(pidfile, { force: true });
      report.removedStale.push({ pidfile, reason: `process ${rec.pid} is not this machine (${mismatch}); not killed` });
      continue;
    }
    // Checked again right before the signal: the pid must still be the same process.
    if (!isSameProcessAlive(rec.pid, rec.pidStartTime)) {
      await fs.rm(pidfile, { force: true });
      report.removedStale.push({ pidfile, reason: `process ${rec.pid} is gone` });
      continue;
    }
    try {
      process.kill(rec.pid, 'SIGKILL');
    } catch {
      // raced with its own exit
    }
    if (await waitGone(rec.pid, rec.pidStartTime, 5000)) {
      await fs.rm(pidfile, { force: true });
      report.killed.push({ pid: rec.pid, runDir: rec.runDir, pidfile });
    } else {
      report.skipped.push({ pidfile, reason: `process ${rec.pid} did not exit after SIGKILL` });
    }
  }
  return report;
}
