/** core/file-lock.ts with real processes: exclusion, waiting, an owner that dies, cleanup of leftovers. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acquireFileLock, isLockFree, removeLockIfFree, type LockOwner } from '../../core/file-lock.js';
import { repoRoot } from '../../core/paths.js';

describe('images: cross-process file lock (core/file-lock.ts)', function () {
  this.timeout(30_000);
  let tmp: string;
  let lock: string;

  beforeEach(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-lock-'));
    lock = path.join(tmp, 'locks', 'x.lock');
  });
  afterEach(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('a second holder waits until the first releases, and is told who holds it', async () => {
    const first = await acquireFileLock(lock, { purpose: 'first' });
    expect(isLockFree(lock)).to.equal(false);
    let waitedFor: LockOwner | null | undefined;
    let secondHeld = false;
    const second = acquireFileLock(lock, { purpose: 'second', onWait: (o) => (waitedFor = o) }).then((l) => {
      secondHeld = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 400));
    expect(secondHeld).to.equal(false);
    expect(waitedFor).to.include({ pid: process.pid, purpose: 'first' });
    await first.release();
    const l2 = await second;
    expect(secondHeld).to.equal(true);
    await l2.release();
    await l2.release(); // twice is fine
    expect(isLockFree(lock)).to.equal(true);
  });

  it('times out with a message naming the holder; an aborted wait stops', async () => {
    const held = await acquireFileLock(lock, { purpose: 'downloading fcos-stable' });
    try {
      const err = await acquireFileLock(lock, { timeoutMs: 300 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect((err as Error).message).to.match(/timed out waiting for the lock .*x\.lock, held by pid \d+ \(downloading fcos-stable\)/);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 200);
      const aborted = await acquireFileLock(lock, { signal: ac.signal }).then(
        () => null,
        (e: unknown) => e,
      );
      expect((aborted as Error).message).to.match(/interrupted/);
    } finally {
      await held.release();
    }
  });

  it('a holder killed with SIGKILL leaves no stale lock', async () => {
    const script = path.join(tmp, 'holder.mjs');
    await fs.writeFile(script, `import { acquireFileLock } from ${JSON.stringify(path.join(repoRoot, 'core/file-lock.ts'))};\nawait acquireFileLock(process.argv[2], { purpose: 'child' });\nconsole.log('held');\nsetInterval(() => {}, 1000);\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', script, lock], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
        child.on('exit', (code) => reject(new Error(`holder exited early (${String(code)})`)));
      });
      expect(isLockFree(lock)).to.equal(false);
      expect(removeLockIfFree(lock)).to.equal(false);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('close', r));
    // The kernel dropped the flock with the process (its `cat` child sees EOF and exits too).
    const t0 = Date.now();
    const l = await acquireFileLock(lock, { timeoutMs: 5000 });
    expect(Date.now() - t0).to.be.below(3000);
    await l.release();
    expect(removeLockIfFree(lock)).to.equal(true);
    await fs.access(lock).then(
      () => expect.fail('lock file should be gone'),
      () => undefined,
    );
  });

  it('a lock file removed while someone waits on it is not shared by two holders', async () => {
    const a = await acquireFileLock(lock);
    const order: string[] = [];
    const b = acquireFileLock(lock).then((l) => (order.push('b'), l));
    await new Promise((r) => setTimeout(r, 300));
    // A cleaner deletes the file (b has it open and waits on the old inode), then c creates a new one.
    await fs.rm(lock);
    const c = await acquireFileLock(lock);
    order.push('c');
    await a.release();
    // b now gets the old inode's lock, notices it is not the file at the path, and waits for c.
    await new Promise((r) => setTimeout(r, 300));
    expect(order).to.deep.equal(['c']);
    await c.release();
    const lb = await b;
    expect(order).to.deep.equal(['c', 'b']);
    await lb.release();
  });
});
