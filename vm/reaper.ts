import { promises as fs, rmSync } from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../core/atomic.js';
import { ExitCode, errorMessage } from '../core/errors.js';
import { stateDir } from '../core/paths.js';
import { isSameProcessAlive, processCmdline, processStartTime } from './proc.js';

/**
 * Teardown that holds on success, failure, timeout, Ctrl-C and crash.
 *
 * 1. In-process registry of live QEMU processes: SIGINT/SIGTERM handlers and a last-chance
 *    process 'exit' hook SIGKILL them synchronously (async work does not run once exit begins).
 * 2. Pidfiles under <stateDir>/machines/: if bootpath itself is SIGKILLed (and setpriv's pdeathsig
 *    was unavailable), the next run or `bootpath gc` reaps the orphans — identified by pid + start
 *    time + a cmdline that references the machine's run dir, never by process name.
 */

export interface PidfileRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with pid, the identity of the QEMU process. */
  pidStartTime: number;
  ownerPid: number;
  ownerStartTime: number;
  runDir: string;
  createdAt: string;
  runId?: string;
  machine?: string;
}

export function machinesStateDir(dir: string = stateDir()): string {
  return path.join(dir, 'machines');
}

export function pidfilePath(runId: string, machine: string, dir: string = stateDir()): string {
  return path.join(machinesStateDir(dir), `${runId}-${machine}.json`);
}

/** Write the pidfile for a QEMU process this process just started. */
export async function writePidfile(file: string, rec: { pid: number; runDir: string; runId?: string; machine?: string }): Promise<PidfileRecord> {
  const pidStartTime = processStartTime(rec.pid);
  const ownerStartTime = processStartTime(process.pid);
  if (pidStartTime === null || ownerStartTime === null) throw new Error(`cannot read /proc start time of pid ${rec.pid}`);
  const record: PidfileRecord = {
    pid: rec.pid,
    pidStartTime,
    ownerPid: process.pid,
    ownerStartTime,
    runDir: rec.runDir,
    createdAt: new Date().toISOString(),
    ...(rec.runId ? { runId: rec.runId } : {}),
    ...(rec.machine ? { machine: rec.machine } : {}),
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

function isPidfileRecord(v: unknown): v is PidfileRecord {
  if (!v || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r['pid'] === 'number' &&
    typeof r['pidStartTime'] === 'number' &&
    typeof r['ownerPid'] === 'number' &&
    typeof r['ownerStartTime'] === 'number' &&
    typeof r['runDir'] === 'string'
  );
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
    let rec: unknown;
    try {
      rec = JSON.parse(await fs.readFile(pidfile, 'utf8'));
    } catch (err) {
      report.skipped.push({ pidfile, reason: `unreadable: ${errorMessage(err)}` });
      continue;
    }
    if (!isPidfileRecord(rec)) {
      report.skipped.push({ pidfile, reason: 'not a bootpath machine pidfile' });
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
    const cmdline = processCmdline(rec.pid);
    if (!cmdline || !cmdline.some((arg) => arg.includes(rec.runDir))) {
      // Same pid and start time but a different program: never kill what we cannot prove is ours.
      await fs.rm(pidfile, { force: true });
      report.removedStale.push({ pidfile, reason: `process ${rec.pid} does not reference ${rec.runDir}; not killed` });
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
