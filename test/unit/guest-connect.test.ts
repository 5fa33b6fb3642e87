import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connectGuest, decideAttempt, dueForAttempt } from '../../harness/guest/connect.js';
import { SshConnectTimeoutError } from '../../harness/guest/errors.js';
import { generateKeyPair } from '../../vm/ssh-keys.js';

describe('harness/guest/connect scheduling', () => {
  const base = { now: 10_000, hinted: false, readyAt: -Infinity, maxSilent: 3, minSilentAge: 1000 };

  it('never starts another attempt while a server is talking on one', () => {
    expect(decideAttempt([{ talking: true, startedAt: 0 }], base)).to.deep.equal({ kind: 'wait' });
  });

  it('overlaps silent attempts up to the cap, then supersedes the oldest only once it is old enough', () => {
    expect(decideAttempt([], base)).to.deep.equal({ kind: 'start' });
    expect(decideAttempt([{ talking: false, startedAt: 9000 }, { talking: false, startedAt: 9500 }], base)).to.deep.equal({ kind: 'start' });
    const full = [
      { talking: false, startedAt: 9200 },
      { talking: false, startedAt: 9500 },
      { talking: false, startedAt: 9800 },
    ];
    expect(decideAttempt(full, base)).to.deep.equal({ kind: 'wait' });
    expect(decideAttempt(full, { ...base, now: 10_300 })).to.deep.equal({ kind: 'supersede-then-start', oldest: 0 });
  });

  it('with a ready hint: one attempt at a time; one from before the hint is replaced at once', () => {
    const one = [{ talking: false, startedAt: 9900 }];
    expect(decideAttempt(one, { ...base, hinted: true })).to.deep.equal({ kind: 'wait' });
    expect(decideAttempt(one, { ...base, hinted: true, now: 11_000 })).to.deep.equal({ kind: 'supersede-then-start', oldest: 0 });
    expect(decideAttempt(one, { ...base, hinted: true, readyAt: 9950 })).to.deep.equal({ kind: 'supersede-then-start', oldest: 0 });
    expect(decideAttempt(one, { ...base, hinted: true, readyAt: 9800 })).to.deep.equal({ kind: 'wait' });
  });

  it('attempts are due every interval (sparser before the hint), sooner after a refusal', () => {
    const pacing = { interval: 150, unreadyInterval: 5000, refusedRetry: 50 };
    expect(dueForAttempt({ now: 1000, lastStartAt: 900, lastRefusedAt: -Infinity, ready: true, pacing })).to.equal(false);
    expect(dueForAttempt({ now: 1050, lastStartAt: 900, lastRefusedAt: -Infinity, ready: true, pacing })).to.equal(true);
    expect(dueForAttempt({ now: 1000, lastStartAt: 900, lastRefusedAt: 920, ready: true, pacing })).to.equal(true);
    expect(dueForAttempt({ now: 2000, lastStartAt: 900, lastRefusedAt: -Infinity, ready: false, pacing })).to.equal(false);
    expect(dueForAttempt({ now: 1000, lastStartAt: 900, lastRefusedAt: 950, ready: false, pacing })).to.equal(true);
  });
});

describe('harness/guest/connect against servers that are not (yet) sshd', () => {
  const hostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bootpath@test';
  let dir: string;
  let keyPath: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-connect-'));
    // A real client key (ssh2 parses it up front); no server here gets as far as authentication.
    keyPath = (await generateKeyPair(dir, 'id_ed25519', 'bootpath-test')).privateKeyPath;
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function listen(onConnection: (s: net.Socket) => void): Promise<{ server: net.Server; port: number; sockets: net.Socket[] }> {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      s.resume(); // read, so that the client closing its end is seen here
      onConnection(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no TCP address');
    return { server, port: address.port, sockets };
  }

  it('a port that accepts but never speaks SSH: silent attempts are superseded and the timeout says so', async () => {
    const { server, port, sockets } = await listen(() => undefined);
    try {
      const started = Date.now();
      const err = await connectGuest({
        endpoint: () => ({ host: '127.0.0.1', port }),
        user: 'core',
        privateKeyPath: keyPath,
        hostPublicKey: hostKey,
        deadlineMs: Date.now() + 700,
        attemptIntervalMs: 50,
        maxSilentAttempts: 2,
        minSilentAgeMs: 100,
        bannerTimeoutMs: 300,
      }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(SshConnectTimeoutError);
      expect((err as SshConnectTimeoutError).message).to.match(/^gave up after 0\.\d s waiting for SSH on 127\.0\.0\.1:\d+ to accept core with host key SHA256:\S+ \(\d+ attempts\); last error: 127\.0\.0\.1:\d+: (no SSH banner after \d+ ms; superseded|port accepts but no SSH banner)/);
      expect(Date.now() - started).to.be.within(600, 2000);
      expect(sockets.length).to.be.greaterThan(2);
      await new Promise((r) => setTimeout(r, 100));
      expect(sockets.filter((s) => !s.readableEnded).length).to.equal(0, 'attempts left open');
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it('nothing listening: refusals are retried quickly and the error names ECONNREFUSED; abort wins over the deadline', async () => {
    const { server, port } = await listen(() => undefined);
    await new Promise((r) => server.close(r));
    const errors: Error[] = [];
    const err = await connectGuest({
      endpoint: () => ({ host: '127.0.0.1', port }),
      user: 'core',
      privateKeyPath: keyPath,
      hostPublicKey: hostKey,
      deadlineMs: Date.now() + 400,
      onAttemptError: (e) => errors.push(e),
    }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/last error: 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    expect(errors.length).to.be.greaterThan(3);

    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('machine died')), 50);
    const aborted = await connectGuest({
      endpoint: () => ({ host: '127.0.0.1', port }),
      user: 'core',
      privateKeyPath: keyPath,
      hostPublicKey: hostKey,
      deadlineMs: Date.now() + 10_000,
      signal: ac.signal,
    }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(aborted?.message).to.equal('machine died');
  });
});
