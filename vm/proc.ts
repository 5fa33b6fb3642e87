import { readFileSync } from 'node:fs';

/**
 * Process identity from /proc. A pid alone is not an identity: pids are reused. The pair
 * (pid, start time in clock ticks since boot — field 22 of /proc/<pid>/stat) is.
 */

/** Field 22 (starttime) of /proc/<pid>/stat, or null when the process does not exist. */
export function processStartTime(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2 (comm) is in parentheses and may contain spaces or ')' itself: split after the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const rest = stat.slice(close + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const value = Number(rest[19]);
  return Number.isFinite(value) ? value : null;
}

/** Process state letter (field 3): 'Z' for a zombie, which counts as gone. */
function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/** argv of a process (NUL-separated in /proc), or null when it is gone or unreadable. */
export function processCmdline(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (raw.length === 0) return null; // zombies and kernel threads have an empty cmdline
    return raw.split('\0').filter((a) => a.length > 0);
  } catch {
    return null;
  }
}

/** True when `pid` runs, is not a zombie, and (if given) started at `startTime`. */
export function isSameProcessAlive(pid: number, startTime?: number): boolean {
  const st = processStartTime(pid);
  if (st === null) return false;
  if (processState(pid) === 'Z') return false;
  return startTime === undefined || st === startTime;
}
