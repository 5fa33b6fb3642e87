import { expect } from 'chai';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decideBootEnd, MachineBase, PANIC_REASON, type BootHandle, type LaunchResult, type LaunchTarget } from '../../vm/machine-base.js';
import type { ConsoleTail } from '../../vm/console.js';
import { MachineFailure, type MachineEvent, type MachineSpec } from '../../vm/machine.js';
import { PortAllocator } from '../../vm/ports.js';

/**
 * The shared lifecycle against a backend whose boots are plain records: the test ends a boot with
 * the SHUTDOWN reason a real QEMU would report, and checks what the machine makes of it.
 */
interface FakeBoot extends BootHandle {
  hostPort: number | null;
}

class FakeMachine extends MachineBase<FakeBoot> {
  protected readonly bootNoun = 'fake boot';
  /** Launches answered "port taken" before one starts (per launch call, counted down). */
  portTakenLaunches = 0;
  /** Boot numbers whose launch throws. */
  failingBoots = new Set<number>();
  readonly launched: LaunchTarget[] = [];
  readonly calls: string[] = [];

  protected async prepare(): Promise<void> {
    const file = path.join(this.spec.runDir, 'overlay.qcow2');
    await fs.writeFile(file, '');
    this.ownedFiles.push(file);
  }

  protected async launchBoot(n: number, target: LaunchTarget): Promise<LaunchResult<FakeBoot>> {
    this.launched.push(target);
    if (this.failingBoots.has(n)) throw new Error(`boot ${n} cannot start`);
    if (this.portTakenLaunches > 0) {
      this.portTakenLaunches--;
      return { kind: 'port-taken' };
    }
    const tail: ConsoleTail = this.console.startBoot(n, target.consoleLog);
    return { kind: 'started', boot: { n, tail, hostPort: target.hostPort } };
  }

  protected async watchBoot(): Promise<void> {}

  protected async requestPowerOff(boot: FakeBoot): Promise<boolean> {
    this.calls.push('power-off');
    setTimeout(() => void this.end(boot, 'guest-shutdown'), 10);
    return true;
  }

  protected async resetBoot(boot: FakeBoot): Promise<void> {
    this.calls.push('reset');
    await this.end(boot, 'host-qmp-system-reset');
  }

  protected async stopBoot(boot: FakeBoot): Promise<void> {
    this.calls.push('stop');
    await this.end(boot, 'host-signal');
  }

  protected async releaseMachine(): Promise<void> {
    this.calls.push('release');
  }

  /** What a backend does when it sees its boot gone. */
  end(boot: FakeBoot, reason: string | null): Promise<void> {
    return this.bootEnded(boot, { reason, how: `fake boot ${boot.n} ended`, diagnostics: async () => 'fake diagnostics' });
  }

  get currentBoot(): FakeBoot | null {
    return this.current;
  }

  /** Resolves once the boot after `n` is current (a restart runs in the background of bootEnded). */
  async endAndWaitNext(reason: string): Promise<FakeBoot> {
    const boot = this.current!;
    await this.end(boot, reason);
    return this.current!;
  }
}

function failureOf(signal: AbortSignal): MachineFailure {
  expect(signal.aborted, 'failure signal aborted').to.equal(true);
  expect(signal.reason).to.be.instanceOf(MachineFailure);
  return signal.reason as MachineFailure;
}

describe('vm/machine-base: the lifecycle every backend shares', () => {
  let dir: string;
  let machines: FakeMachine[];
  const ports = new PortAllocator({ min: 40000, max: 40100 });

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-base-'));
    machines = [];
  });
  afterEach(async () => {
    for (const m of machines) await m.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  function machine(name = 'm1', extra: Partial<MachineSpec> = {}): FakeMachine {
    const spec: MachineSpec = {
      name,
      runDir: path.join(dir, 'run1', name),
      firmware: 'bios',
      memoryMiB: 256,
      cpus: 1,
      accel: 'tcg',
      provisioning: { kind: 'none' },
      restartOnGuestReset: true,
      ...extra,
    };
    const m = new FakeMachine(spec, { ports });
    machines.push(m);
    return m;
  }

  describe('decideBootEnd', () => {
    const running = { intent: 'none' as const, destroyed: false, restartOnGuestReset: true };
    it('a guest reset restarts, a guest poweroff is off, anything else is a death', () => {
      expect(decideBootEnd({ ...running, reason: 'guest-reset' })).to.deep.equal({ kind: 'restart' });
      expect(decideBootEnd({ ...running, reason: 'host-qmp-system-reset' })).to.deep.equal({ kind: 'restart' });
      expect(decideBootEnd({ ...running, reason: 'guest-shutdown' })).to.deep.equal({ kind: 'powered-off' });
      expect(decideBootEnd({ ...running, reason: null })).to.deep.equal({ kind: 'died', failure: 'died' });
      expect(decideBootEnd({ ...running, reason: 'host-signal' })).to.deep.equal({ kind: 'died', failure: 'died' });
    });
    it("QEMU's panic reason (guest-panic, the QMP ShutdownCause) is a panic for every backend", () => {
      expect(PANIC_REASON).to.equal('guest-panic');
      expect(decideBootEnd({ ...running, reason: 'guest-panic' })).to.deep.equal({ kind: 'died', failure: 'panic' });
      // libvirt's event name for the same thing is not a SHUTDOWN reason: it never reaches here as one.
      expect(decideBootEnd({ ...running, reason: 'guest-panicked' })).to.deep.equal({ kind: 'died', failure: 'died' });
    });
    it('a boot the harness ended is never a death, and a reset without restartOnGuestReset is', () => {
      for (const intent of ['power-off', 'kill', 'destroy'] as const) {
        expect(decideBootEnd({ ...running, intent, reason: null })).to.deep.equal({ kind: 'stopped-by-harness' });
      }
      expect(decideBootEnd({ ...running, destroyed: true, reason: 'guest-reset' })).to.deep.equal({ kind: 'stopped-by-harness' });
      expect(decideBootEnd({ ...running, restartOnGuestReset: false, reason: 'guest-reset' })).to.deep.equal({ kind: 'died', failure: 'died' });
    });
  });

  it('retries the launch on another port when the forward is taken, and keeps the port across reboots', async () => {
    const m = machine();
    m.portTakenLaunches = 2;
    await m.start();
    expect(m.launched).to.have.length(3);
    const [a, b, c] = m.launched.map((t) => t.hostPort);
    expect(new Set([a, b, c]).size).to.equal(3);
    expect(m.sshEndpoint).to.deep.equal({ host: '127.0.0.1', port: c });
    expect(ports.isHeld(a!)).to.equal(false);

    const events: MachineEvent['type'][] = [];
    m.on((e) => events.push(e.type));
    const next = await m.endAndWaitNext('guest-reset');
    expect(next.n).to.equal(2);
    expect(next.hostPort).to.equal(c);
    expect(m.bootCount).to.equal(2);
    expect(m.consoleLog).to.equal(path.join(m.spec.runDir, 'console-2.log'));
    expect(events).to.deep.equal(['guest-reset', 'boot']);
    expect(m.failureSignal.aborted).to.equal(false);
  });

  it('gives up after the port attempts with a located message, and cleans up', async () => {
    const m = machine();
    m.portTakenLaunches = 100;
    const err = await m.start().then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/^fake boot for machine m1 could not bind a forwarding port after 8 attempts \(last: port \d+ was taken\)$/);
    expect(m.calls).to.deep.equal(['release']);
    expect(m.sshEndpoint).to.equal(null);
  });

  it('no forward wanted: launches with hostPort null and no endpoint', async () => {
    const m = machine('noport', { sshGuestPort: null });
    await m.start();
    expect(m.launched[0]?.hostPort).to.equal(null);
    expect(m.sshEndpoint).to.equal(null);
  });

  it('a guest-panic end fails the machine with kind panic and the backend diagnostics', async () => {
    const m = machine();
    await m.start();
    const died: MachineEvent[] = [];
    m.on((e) => e.type === 'died' && died.push(e));
    await m.end(m.currentBoot!, 'guest-panic');
    const failure = failureOf(m.failureSignal);
    expect(failure.kind).to.equal('panic');
    expect(failure.message).to.match(/^machine m1 died: fake boot 1 ended after SHUTDOWN reason guest-panic; fake diagnostics; last console lines:/);
    expect(died).to.have.length(1);
    expect(m.running).to.equal(false);
  });

  it('an end without a shutdown request is a death of kind died', async () => {
    const m = machine();
    await m.start();
    await m.end(m.currentBoot!, null);
    const failure = failureOf(m.failureSignal);
    expect(failure.kind).to.equal('died');
    expect(failure.message).to.contain('without a shutdown request');
  });

  it('a guest poweroff is off, not a failure: console waits end with "powered off"', async () => {
    const m = machine();
    await m.start();
    const waiting = m.waitForConsole(/never/, { timeoutMs: 5000 });
    await m.end(m.currentBoot!, 'guest-shutdown');
    const err = await waiting.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/machine m1 is powered off; still waiting for \/never\//);
    expect(m.failureSignal.aborted).to.equal(false);
  });

  it('a restart that cannot launch is a death that says so', async () => {
    const m = machine();
    await m.start();
    m.failingBoots.add(2);
    await m.end(m.currentBoot!, 'guest-reset');
    const failure = failureOf(m.failureSignal);
    expect(failure.message).to.match(/machine m1 died: could not start fake boot again after the guest rebooted: boot 2 cannot start/);
  });

  it('powerOff asks, waits for the end, and the end is not a failure', async () => {
    const m = machine();
    await m.start();
    await m.powerOff(5000);
    expect(m.calls).to.deep.equal(['power-off']);
    expect(m.running).to.equal(false);
    expect(m.failureSignal.aborted).to.equal(false);
  });

  it('reset through the backend primitive boots again', async () => {
    const m = machine();
    await m.start();
    await m.reset();
    expect(m.calls).to.deep.equal(['reset']);
    expect(m.bootCount).to.equal(2);
    expect(m.running).to.equal(true);
  });

  it('kill stops the boot without a failure; destroy is idempotent, releases once and removes owned files', async () => {
    const m = machine();
    await m.start();
    const overlay = path.join(m.spec.runDir, 'overlay.qcow2');
    expect(existsSync(overlay)).to.equal(true);
    await m.kill();
    expect(m.failureSignal.aborted).to.equal(false);
    await Promise.all([m.destroy(), m.destroy()]);
    await m.destroy();
    expect(m.calls).to.deep.equal(['stop', 'release']);
    expect(existsSync(overlay)).to.equal(false);
  });

  it('destroy stops a running boot; keepFiles keeps the overlay', async () => {
    const m = machine();
    await m.start();
    await m.destroy({ keepFiles: true });
    expect(m.calls).to.deep.equal(['stop', 'release']);
    expect(existsSync(path.join(m.spec.runDir, 'overlay.qcow2'))).to.equal(true);
    expect(m.failureSignal.aborted).to.equal(false);
  });

  it('a machine is started once', async () => {
    const m = machine();
    await m.start();
    const err = await m.start().then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.equal('machine m1 was already started');
  });
});
