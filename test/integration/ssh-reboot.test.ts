import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectGuest } from '../../harness/guest/connect.js';
import { rebootGuest, type RebootOptions } from '../../harness/guest/reboot.js';
import type { GuestSession } from '../../harness/guest/session.js';
import { SshdFixture } from '../support/sshd.js';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A "guest" made of a real sshd plus files: boot_id, systemd state and failed units are files the
 * test controls, and a reboot is sshd dying, the boot id changing and sshd coming back.
 */
describe('rebootGuest against a real sshd (simulated reboots)', function () {
  this.timeout(30_000);
  let sshd: SshdFixture;
  let dir: string;
  let bootIdFile: string;
  let stateFile: string;
  let failedFile: string;
  let session: GuestSession | null = null;
  const sessions: GuestSession[] = [];
  let background: Promise<void> | null = null;

  const connect = async (deadlineMs: number): Promise<GuestSession> => {
    const s = await connectGuest({
      endpoint: () => sshd.endpoint,
      user: sshd.user,
      privateKeyPath: sshd.clientKeyPath,
      hostPublicKey: sshd.hostPublicKey,
      deadlineMs,
    });
    sessions.push(s);
    return s;
  };

  const baseOptions = (): Omit<RebootOptions, 'timeouts' | 'session'> => ({
    reconnect: connect,
    commands: { bootId: `cat ${bootIdFile}`, systemState: `cat ${stateFile}`, failedUnits: `cat ${failedFile}` },
    consoleTail: () => '[  OK  ] fake console line\nreboot: Restarting system',
  });

  /** The reboot the trigger sets off: sshd and its sessions die, a new boot id, sshd back after `downForMs`. */
  const simulateReboot = (downForMs: number | null, newId: string): void => {
    background = (async () => {
      await sleep(100); // `systemctl reboot` returns before the machine goes down
      await sshd.stop();
      await fs.writeFile(bootIdFile, `${newId}\n`);
      if (downForMs === null) return;
      await sleep(downForMs);
      await sshd.start();
    })();
  };

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-reboot-'));
    bootIdFile = path.join(dir, 'boot_id');
    stateFile = path.join(dir, 'state');
    failedFile = path.join(dir, 'failed');
    await fs.writeFile(bootIdFile, 'boot-1\n');
    await fs.writeFile(stateFile, 'running\n');
    await fs.writeFile(failedFile, '');
    sshd = await SshdFixture.create();
    await sshd.start();
    session = await connect(Date.now() + 10_000);
  });
  afterEach(async () => {
    await background?.catch(() => {});
    background = null;
    for (const s of sessions.splice(0)) await s.close();
    await sshd.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('ok: sees the drop, reconnects to the new boot within 500 ms of sshd listening, times each phase', async () => {
    const r = await rebootGuest({
      ...baseOptions(),
      session: session!,
      trigger: async (s) => {
        const res = await s.exec('echo rebooting', { timeoutMs: 5000 });
        simulateReboot(1500, 'boot-2');
        return res;
      },
      timeouts: { goDownMs: 5000, comeBackMs: 10_000, settleMs: 5000 },
    });
    await background;
    expect(r.verdict, r.message).to.equal('ok');
    expect(r.oldBootId).to.equal('boot-1');
    expect(r.newBootId).to.equal('boot-2');
    expect(r.systemState).to.equal('running');
    expect(r.failedUnits).to.deep.equal([]);
    expect(r.session?.isOpen).to.equal(true);
    expect((await r.session!.exec(`cat ${bootIdFile}`, { timeoutMs: 5000 })).stdout.trim()).to.equal('boot-2');
    const detection = r.timestamps.upAt! - sshd.listeningAt!;
    console.log(`      phases ${JSON.stringify(r.phases)}; new boot noticed ${detection} ms after sshd listened`);
    expect(detection).to.be.within(0, 499);
    expect(r.phases.downMs).to.be.within(50, 1500);
    expect(r.phases.upMs).to.be.greaterThan(1500);
    expect(r.phases.upMs).to.be.greaterThan(r.phases.downMs!);
    expect(r.phases.settleMs).to.be.within(0, 1000);
    expect(r.phases.totalMs).to.be.at.least(r.phases.upMs! + r.phases.settleMs!);
    expect(r.timestamps.downAt).to.be.at.most(r.timestamps.upAt!);
  });

  it('did-not-go-down: the old boot id keeps answering', async () => {
    const started = Date.now();
    const r = await rebootGuest({
      ...baseOptions(),
      session: session!,
      trigger: (s) => s.exec('echo pretend to reboot', { timeoutMs: 5000 }),
      timeouts: { goDownMs: 1000, comeBackMs: 5000, settleMs: 5000 },
    });
    expect(r.verdict).to.equal('did-not-go-down');
    expect(r.message).to.match(/did not go down within 1000 ms.*boot-1 still answers/);
    expect(r.newBootId).to.equal(null);
    expect(r.phases.downMs).to.equal(null);
    expect(Date.now() - started).to.be.within(900, 4000);
  });

  it('did-not-go-down names a failed trigger', async () => {
    const r = await rebootGuest({
      ...baseOptions(),
      session: session!,
      trigger: async () => {
        throw new Error('sudo: a password is required');
      },
      timeouts: { goDownMs: 500, comeBackMs: 5000, settleMs: 5000 },
    });
    expect(r.verdict).to.equal('did-not-go-down');
    expect(r.triggerError).to.equal('sudo: a password is required');
    expect(r.message).to.contain('the trigger failed: sudo: a password is required');
  });

  it('did-not-come-back: includes the last error and the console tail', async () => {
    const r = await rebootGuest({
      ...baseOptions(),
      session: session!,
      trigger: async () => simulateReboot(null, 'boot-2'),
      timeouts: { goDownMs: 3000, comeBackMs: 1500, settleMs: 5000 },
    });
    expect(r.verdict).to.equal('did-not-come-back');
    expect(r.phases.downMs).to.not.equal(null);
    expect(r.session).to.equal(null);
    expect(r.message).to.match(/no SSH session reported a new boot id within 1500 ms; last error: .*ECONNREFUSED/);
    expect(r.message).to.contain('reboot: Restarting system');
    expect(r.consoleTail).to.contain('fake console line');
  });

  it('came-back-degraded: waits out "starting", then lists failed units', async () => {
    await fs.writeFile(stateFile, 'starting\n');
    const r = await rebootGuest({
      ...baseOptions(),
      session: session!,
      trigger: async () => {
        simulateReboot(300, 'boot-2');
        // systemd is still starting when sshd comes back, and settles degraded a bit later
        setTimeout(() => {
          void fs.writeFile(failedFile, 'bootpath-broken.service loaded failed failed Broken\nother.mount loaded failed failed Other\n');
          void fs.writeFile(stateFile, 'degraded\n');
        }, 1500);
      },
      timeouts: { goDownMs: 3000, comeBackMs: 10_000, settleMs: 10_000 },
    });
    expect(r.verdict, r.message).to.equal('came-back-degraded');
    expect(r.systemState).to.equal('degraded');
    expect(r.failedUnits).to.deep.equal(['bootpath-broken.service', 'other.mount']);
    expect(r.phases.settleMs).to.be.greaterThan(200);
    expect(r.message).to.contain('bootpath-broken.service');
  });

  it('did-not-settle is its own verdict', async () => {
    await fs.writeFile(stateFile, 'starting\n');
    const r = await rebootGuest({
      ...baseOptions(),
      session: session!,
      trigger: async () => simulateReboot(200, 'boot-2'),
      timeouts: { goDownMs: 3000, comeBackMs: 10_000, settleMs: 800 },
    });
    expect(r.verdict).to.equal('did-not-settle');
    expect(r.message).to.contain('still starting');
    await background;
  });

  it('aborts with the machine failure while waiting for the guest to come back', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const err = await rebootGuest({
      ...baseOptions(),
      session: session!,
      trigger: async () => {
        simulateReboot(null, 'boot-2');
        setTimeout(() => ac.abort(new Error('guest kernel panic')), 600);
      },
      signal: ac.signal,
      timeouts: { goDownMs: 3000, comeBackMs: 20_000, settleMs: 5000 },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as Error).message).to.equal('guest kernel panic');
    expect(Date.now() - started).to.be.lessThan(2000);
  });
});
