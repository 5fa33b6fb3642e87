/**
 * A cross-process exclusive lock on a file, for state shared by concurrent bootpath processes (the
 * image cache, build directories).
 *
 * Why flock(1) held by a child process rather than an O_EXCL lockfile with a pid in it: the kernel
 * drops a flock the moment its holder dies — SIGKILL, OOM, a power-cut laptop — so there is no stale
 * lock to detect and nothing to break. Breaking an O_EXCL lock safely needs a second protocol (two
 * waiters that both see the same stale owner must not both delete it, or one deletes the *new* lock
 * of the other), and pid reuse needs the process start time to rule out. Node has no flock(2)
 * binding, so a tiny `sh` child opens the file, takes the lock with `flock(1)` and then waits on its
 * stdin (`cat`): releasing is closing that pipe, and if this process dies the pipe closes with it,
 * so the lock never outlives its owner.
 *
 * The owner (pid + process start time + purpose) is still written into the file, but only so that a
 * waiter can say whom it waits for, and so that `images prune` can tell a leftover lock file from a
 * held one (it asks flock, not the pid).
 *
 * A lock file may be removed by a cleaner while a waiter has it open; the waiter would then lock a
 * deleted inode. The child compares the inode it locked with the one at the path and the acquisition
 * is retried when they differ.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { HostNotCapableError, InterruptedError } from './errors.js';

export interface LockOwner {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid, the identity of a process (pids are reused). */
  startTime: number | null;
  purpose: string;
  since: string;
}

export interface FileLock {
  readonly file: string;
  /** Release the lock; resolves once the kernel has dropped it. Safe to call twice. */
  release(): Promise<void>;
}

export interface AcquireLockOptions {
  /** What the holder does, shown to waiters ("downloading fcos-stable"). */
  purpose?: string;
  /** Called once when the lock is busy, with the current owner when known. */
  onWait?: (owner: LockOwner | null) => void;
  signal?: AbortSignal;
  /** Give up after this long (default: wait as long as it takes — a download can take many minutes). */
  timeoutMs?: number;
}

// Exit codes of the child script; 0..2 are flock(1)'s own.
const EXIT_INODE_CHANGED = 75;
const EXIT_OPEN_FAILED = 70;

// $1 = lock file. Prints "locked" once the lock is held, then holds it (fd 9, inherited by cat) until
// stdin closes.
const HOLDER_SCRIPT = [
  'exec 9>>"$1" || exit 70',
  'flock -x 9 || exit 71',
  'a=$(stat -L -c %d:%i "$1" 2>/dev/null) || exit 75',
  'b=$(stat -L -c %d:%i /proc/self/fd/9) || exit 75',
  '[ "$a" = "$b" ] || exit 75',
  'echo locked',
  'exec cat >/dev/null',
].join('\n');

export function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and ')': fields after the last ')' start at field 3.
    const value = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

export async function readLockOwner(file: string): Promise<LockOwner | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid !== 'number') return null;
    return { pid: parsed.pid, startTime: parsed.startTime ?? null, purpose: parsed.purpose ?? '', since: parsed.since ?? '' };
  } catch {
    return null;
  }
}

export function describeOwner(owner: LockOwner | null): string {
  if (!owner) return 'another process';
  return `pid ${owner.pid}${owner.purpose ? ` (${owner.purpose})` : ''}${owner.since ? ` since ${owner.since}` : ''}`;
}

let flockChecked = false;
function requireFlock(): void {
  if (flockChecked) return;
  const probe = spawnSync('flock', ['--version'], { stdio: 'ignore' });
  if (probe.error) {
    throw new HostNotCapableError('flock(1) is needed to share the bootpath cache between processes but was not found', 'apt-get install util-linux (Debian/Ubuntu) or dnf install util-linux (Fedora)');
  }
  flockChecked = true;
}

/** Take the exclusive lock on `file` (created if missing), waiting while another process holds it. */
export async function acquireFileLock(file: string, opts: AcquireLockOptions = {}): Promise<FileLock> {
  requireFlock();
  await fs.mkdir(path.dirname(file), { recursive: true });
  const deadline = opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs;
  let waitReported = false;
  for (;;) {
    const outcome = await tryHold(file, opts, deadline, () => {
      if (waitReported) return;
      waitReported = true;
      void readLockOwner(file).then((owner) => opts.onWait?.(owner));
    });
    if (outcome === 'retry') continue;
    const owner: LockOwner = { pid: process.pid, startTime: processStartTime(process.pid), purpose: opts.purpose ?? '', since: new Date().toISOString() };
    // Written in place (not renamed over): the lock is on this inode.
    await fs.writeFile(file, JSON.stringify(owner) + '\n');
    return outcome;
  }
}

function tryHold(file: string, opts: AcquireLockOptions, deadline: number | undefined, onBusy: () => void): Promise<FileLock | 'retry'> {
  return new Promise((resolve, reject) => {
    const child: ChildProcessWithoutNullStreams = spawn('sh', ['-c', HOLDER_SCRIPT, 'bootpath-lock', file], { stdio: ['pipe', 'pipe', 'pipe'] });
    let held = false;
    let settled = false;
    let stderr = '';
    const timers: NodeJS.Timeout[] = [];
    const exited = new Promise<void>((r) => child.once('close', () => r()));
    const cleanup = (): void => {
      timers.forEach((t) => clearTimeout(t));
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      child.kill('SIGKILL');
      reject(err);
    };
    const onAbort = (): void => fail(new InterruptedError('abort'));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    // Not held after a moment: somebody else has it; tell the caller once.
    timers.push(setTimeout(() => !held && onBusy(), 150));
    if (deadline !== undefined) {
      timers.push(
        setTimeout(
          () => {
            void readLockOwner(file).then((owner) => fail(new Error(`timed out waiting for the lock ${file}, held by ${describeOwner(owner)}`)));
          },
          Math.max(0, deadline - Date.now()),
        ),
      );
    }
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      if (held || settled || !d.toString().includes('locked')) return;
      held = true;
      settled = true;
      cleanup();
      let released = false;
      resolve({
        file,
        release: async () => {
          if (!released) {
            released = true;
            child.stdin.end();
          }
          await exited;
        },
      });
    });
    child.on('error', (err) => fail(err));
    child.on('close', (code) => {
      if (settled) return;
      if (code === EXIT_INODE_CHANGED) {
        settled = true;
        cleanup();
        resolve('retry');
        return;
      }
      const why = code === EXIT_OPEN_FAILED ? 'cannot open it for writing' : `exit status ${String(code)}`;
      fail(new Error(`could not lock ${file}: ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

/** Run `fn` while holding the lock. */
export async function withFileLock<T>(file: string, opts: AcquireLockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireFileLock(file, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * True when nobody holds the lock on `file` right now (`flock -n` succeeds). Used by cleaners to
 * tell a leftover lock file from a live one.
 */
export function isLockFree(file: string): boolean {
  requireFlock();
  const res = spawnSync('flock', ['-n', '-E', '75', file, 'true'], { stdio: 'ignore' });
  return res.status === 0;
}

/**
 * Remove a lock file nobody holds. Taken under the lock itself, so a process that opened the file
 * meanwhile sees the inode change and retries on a fresh file.
 */
export function removeLockIfFree(file: string): boolean {
  requireFlock();
  const res = spawnSync('flock', ['-n', '-E', '75', file, 'rm', '-f', file], { stdio: 'ignore' });
  return res.status === 0;
}
