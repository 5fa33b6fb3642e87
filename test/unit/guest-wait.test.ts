import { expect } from 'chai';
import { abortable, pollUntil, sleep, WaitTimeoutError } from '../../core/wait.js';
import { ConnectionLostError } from '../../harness/guest/errors.js';
import { rebootGuest } from '../../harness/guest/reboot.js';
import type { ExecOptions, ExecResult, GuestSession } from '../../harness/guest/session.js';
import { all, forCommand, forConsole, forNewBootId, forSystemdSettled } from '../../harness/guest/wait-strategies.js';

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

/**
 * A scripted guest: one boot at a time, sessions bound to the boot they were opened on. Going down
 * drops every session (as sshd dying does); commands answer from `answer`.
 */
class FakeGuest {
  bootId = 'b1';
  up = true;
  readonly sessions: FakeSession[] = [];
  answer: (command: string, guest: FakeGuest) => { exitCode: number; stdout?: string; stderr?: string } = (cmd) =>
    cmd.includes('boot_id') ? { exitCode: 0, stdout: `${this.bootId}\n` } : cmd.includes('is-system-running') ? { exitCode: 0, stdout: 'running\n' } : { exitCode: 0 };

  open(): FakeSession {
    const s = new FakeSession(this);
    this.sessions.push(s);
    return s;
  }

  /** The reboot: down now, a new boot id, up again after `downForMs` (null: never). */
  reboot(newId: string, downForMs: number | null): void {
    this.up = false;
    for (const s of this.sessions) s.drop();
    this.bootId = newId;
    if (downForMs !== null) setTimeout(() => (this.up = true), downForMs);
  }

  /** Like connectGuest: retry until the guest is up or the deadline passes. */
  async reconnect(deadlineMs: number): Promise<GuestSession> {
    while (!this.up) {
      if (Date.now() >= deadlineMs) throw new Error('connect ECONNREFUSED 127.0.0.1:2222');
      await sleep(20);
    }
    return this.open();
  }
}

class FakeSession implements GuestSession {
  readonly endpoint = { host: '127.0.0.1' as const, port: 2222 };
  readonly user = 'core';
  readonly closed: Promise<ConnectionLostError | null>;
  readonly commands: string[] = [];
  private open = true;
  private resolveClosed: (v: ConnectionLostError | null) => void = () => undefined;

  constructor(private readonly guest: FakeGuest) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  get isOpen(): boolean {
    return this.open;
  }

  drop(): void {
    if (!this.open) return;
    this.open = false;
    this.resolveClosed(new ConnectionLostError('connection reset'));
  }

  async exec(command: string, opts: ExecOptions): Promise<ExecResult> {
    this.commands.push(command);
    if (!this.open) throw new ConnectionLostError(`closed; cannot run: ${command}`, command);
    if (opts.signal?.aborted) throw opts.signal.reason;
    const a = this.guest.answer(command, this.guest);
    return { command, exitCode: a.exitCode, signal: null, stdout: a.stdout ?? '', stderr: a.stderr ?? '', durationMs: 1, timedOut: false };
  }

  execArgv(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    return this.exec(argv.join(' '), opts);
  }

  async upload(): Promise<void> {}
  async download(): Promise<void> {}

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.resolveClosed(null);
  }
}

describe('core/wait', () => {
  it('pollUntil returns the first accepted value', async () => {
    let n = 0;
    const v = await pollUntil(async () => ++n, { timeoutMs: 2000, intervalMs: 5, until: (x) => x >= 3, describe: () => 'three' });
    expect(v).to.equal(3);
  });

  it('a timeout says what was awaited and what was seen last (value or error)', async () => {
    let n = 0;
    const err = await rejection(
      pollUntil(
        async () => {
          if (++n % 2 === 0) throw new Error(`boom ${n}`);
          return n;
        },
        { timeoutMs: 120, intervalMs: 10, until: () => false, describe: (last, e) => `nothing (last value ${String(last)}, last error ${e instanceof Error ? e.message : 'none'})` },
      ),
    );
    expect(err).to.be.instanceOf(WaitTimeoutError);
    expect(err.message).to.match(/^timed out after 0\.\d s \(\d+ checks\) waiting for nothing \(last value \d+, last error (boom \d+|none)\)$/);
    expect((err as WaitTimeoutError).attempts).to.be.greaterThan(2);
  });

  it('cuts a hanging check at the deadline', async () => {
    const started = Date.now();
    const err = await rejection(pollUntil(() => new Promise<number>(() => undefined), { timeoutMs: 100, intervalMs: 10, until: () => true, describe: () => 'a hang' }));
    expect(err).to.be.instanceOf(WaitTimeoutError);
    expect(Date.now() - started).to.be.below(1000);
  });

  it('an abort ends a poll at once with the reason, never as a timeout', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('machine died: kernel panic')), 30);
    const started = Date.now();
    const err = await rejection(pollUntil(async () => 0, { timeoutMs: 10_000, intervalMs: 1000, signal: ac.signal, until: () => false, describe: () => 'x' }));
    expect(err.message).to.equal('machine died: kernel panic');
    expect(Date.now() - started).to.be.below(500);
  });

  it('a fatal error ends the poll at once', async () => {
    const err = await rejection(
      pollUntil(
        async () => {
          throw new Error('host key mismatch');
        },
        { timeoutMs: 10_000, intervalMs: 10, until: () => true, describe: () => 'x', isFatal: (e) => e instanceof Error && e.message.includes('mismatch') },
      ),
    );
    expect(err.message).to.equal('host key mismatch');
  });

  it('sleep and abortable honour abort', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('interrupted by SIGINT')), 20);
    const started = Date.now();
    expect((await rejection(sleep(10_000, ac.signal))).message).to.equal('interrupted by SIGINT');
    expect(Date.now() - started).to.be.below(500);
    expect((await rejection(abortable(new Promise(() => undefined), ac.signal))).message).to.equal('interrupted by SIGINT');
    await sleep(1);
  });
});

describe('harness/guest/wait-strategies', () => {
  it('forCommand waits for the exit code and times out with the last result', async () => {
    const guest = new FakeGuest();
    let n = 0;
    guest.answer = () => (++n >= 3 ? { exitCode: 0, stdout: 'ok' } : { exitCode: 1, stderr: 'not yet' });
    const r = await forCommand('test -e /run/ready', { intervalMs: 5 }).waitUntilReady({ session: guest.open() }, 2000);
    expect(r.exitCode).to.equal(0);
    guest.answer = () => ({ exitCode: 3, stderr: 'inactive' });
    const err = await rejection(forCommand('systemctl is-active foo', { intervalMs: 5 }).waitUntilReady({ session: guest.open() }, 80));
    expect(err.message).to.match(/waiting for `systemctl is-active foo` to exit 0 \(last: exit 3, "inactive"\)$/);
  });

  it('forSystemdSettled waits out starting; null without systemctl; says the last state', async () => {
    const guest = new FakeGuest();
    let n = 0;
    guest.answer = () => ({ exitCode: 1, stdout: ++n < 3 ? 'starting\n' : 'degraded\n' });
    expect(await forSystemdSettled({ intervalMs: 5 }).waitUntilReady({ session: guest.open() }, 2000)).to.equal('degraded');
    guest.answer = () => ({ exitCode: 127, stderr: 'sh: systemctl: not found' });
    expect(await forSystemdSettled().waitUntilReady({ session: guest.open() }, 2000)).to.equal(null);
    guest.answer = () => ({ exitCode: 1, stdout: 'starting\n' });
    const err = await rejection(forSystemdSettled({ intervalMs: 5 }).waitUntilReady({ session: guest.open() }, 60));
    expect(err.message).to.match(/waiting for systemd to settle \(still starting\)$/);
  });

  it('forNewBootId and forConsole; all() waits for every one and names them all', async () => {
    const guest = new FakeGuest();
    const session = guest.open();
    setTimeout(() => (guest.bootId = 'b2'), 30);
    const console = { waitForConsole: async (re: RegExp) => re.exec('fedora login:')! };
    const both = all(forNewBootId('b1', { intervalMs: 5 }), forConsole(/login:/));
    expect(both.description).to.equal('a boot id other than b1 and /login:/ on the console');
    const [id, m] = await both.waitUntilReady({ session, console }, 2000);
    expect(id).to.equal('b2');
    expect(m[0]).to.equal('login:');
    const err = await rejection(forNewBootId('b2', { intervalMs: 5 }).waitUntilReady({ session }, 50));
    expect(err.message).to.match(/waiting for a boot id other than b2 \(last: still b2\)$/);
  });
});

describe('harness/guest/reboot phases (scripted guest)', () => {
  const timeouts = { goDownMs: 1000, comeBackMs: 2000, settleMs: 1000 };

  it('ok: down, a session on the new boot, settled; each phase timed', async () => {
    const guest = new FakeGuest();
    const r = await rebootGuest({
      session: guest.open(),
      reconnect: (d) => guest.reconnect(d),
      trigger: async () => guest.reboot('b2', 150),
      timeouts,
      pollIntervalMs: 20,
    });
    expect(r.verdict, r.message).to.equal('ok');
    expect(r.oldBootId).to.equal('b1');
    expect(r.newBootId).to.equal('b2');
    expect(r.systemState).to.equal('running');
    expect(r.session?.isOpen).to.equal(true);
    expect(r.phases.downMs).to.be.within(0, 100);
    expect(r.phases.upMs).to.be.within(140, 1000);
    expect(r.message).to.equal('rebooted into boot b2 (running)');
  });

  it('did-not-go-down: the old boot keeps answering; a failed trigger is named', async () => {
    const guest = new FakeGuest();
    const r = await rebootGuest({
      session: guest.open(),
      reconnect: (d) => guest.reconnect(d),
      trigger: async () => {
        throw new Error('sudo: a password is required');
      },
      timeouts: { ...timeouts, goDownMs: 100 },
      pollIntervalMs: 10,
    });
    expect(r.verdict).to.equal('did-not-go-down');
    expect(r.triggerError).to.equal('sudo: a password is required');
    expect(r.message).to.match(/did not go down within 100 ms.*b1 still answers; the trigger failed: sudo: a password is required/);
    expect(r.phases.downMs).to.equal(null);
  });

  it('did-not-come-back: the last connection error and the console tail', async () => {
    const guest = new FakeGuest();
    const r = await rebootGuest({
      session: guest.open(),
      reconnect: (d) => guest.reconnect(d),
      trigger: async () => guest.reboot('b2', null),
      timeouts: { ...timeouts, comeBackMs: 150 },
      consoleTail: () => 'reboot: Restarting system',
    });
    expect(r.verdict).to.equal('did-not-come-back');
    expect(r.message).to.match(/no SSH session reported a new boot id within 150 ms; last error: connect ECONNREFUSED/);
    expect(r.message).to.contain('reboot: Restarting system');
    expect(r.session).to.equal(null);
  });

  it('a session that still reaches the old boot is closed and another opened', async () => {
    const guest = new FakeGuest();
    let reconnects = 0;
    const r = await rebootGuest({
      session: guest.open(),
      reconnect: async (d) => {
        // the first session after the drop still lands on the old boot (shutdown not finished)
        if (++reconnects === 2) guest.bootId = 'b2';
        return guest.reconnect(d);
      },
      trigger: async () => {
        for (const s of guest.sessions) s.drop();
      },
      timeouts,
    });
    expect(r.verdict, r.message).to.equal('ok');
    expect(reconnects).to.equal(2);
    expect(guest.sessions[1]?.isOpen).to.equal(false);
  });

  it('did-not-settle and came-back-degraded (with failed units)', async () => {
    const guest = new FakeGuest();
    guest.answer = (cmd, g) =>
      cmd.includes('boot_id') ? { exitCode: 0, stdout: g.bootId } : cmd.includes('is-system-running') ? { exitCode: 1, stdout: 'starting' } : { exitCode: 0 };
    const stuck = await rebootGuest({
      session: guest.open(),
      reconnect: (d) => guest.reconnect(d),
      trigger: async () => guest.reboot('b2', 20),
      timeouts: { ...timeouts, settleMs: 100 },
    });
    expect(stuck.verdict).to.equal('did-not-settle');
    expect(stuck.systemState).to.equal('starting');
    expect(stuck.message).to.match(/^the guest came back \(boot b2\) but timed out after .* waiting for systemd to settle \(still starting\)$/);

    guest.answer = (cmd, g) =>
      cmd.includes('boot_id')
        ? { exitCode: 0, stdout: g.bootId }
        : cmd.includes('is-system-running')
          ? { exitCode: 1, stdout: 'degraded' }
          : { exitCode: 0, stdout: '● broken.service loaded failed failed Broken\nother.mount loaded failed failed x\n' };
    const r = await rebootGuest({ session: stuck.session!, reconnect: (d) => guest.reconnect(d), trigger: async () => guest.reboot('b3', 20), timeouts });
    expect(r.verdict).to.equal('came-back-degraded');
    expect(r.failedUnits).to.deep.equal(['broken.service', 'other.mount']);
    expect(r.message).to.equal('the guest came back (boot b3) but systemd reports degraded; failed units: broken.service, other.mount');
  });

  it('a dead machine aborts the reboot with its reason while waiting for the guest to come back', async () => {
    const guest = new FakeGuest();
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('machine died: kernel panic')), 80);
    const err = await rejection(
      rebootGuest({ session: guest.open(), reconnect: (d) => guest.reconnect(d), trigger: async () => guest.reboot('b2', null), timeouts: { ...timeouts, comeBackMs: 10_000 }, signal: ac.signal }),
    );
    expect(err.message).to.equal('machine died: kernel panic');
  });
});
