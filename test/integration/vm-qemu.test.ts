/**
 * The VM layer against real QEMU (TCG) and the tiny busybox guest: console capture, problem
 * detection, death detection, QMP power control, transparent reboots, overlays, port forwarding,
 * and teardown of child harness processes on SIGINT and SIGKILL.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HostNotCapableError } from '../../core/errors.js';
import { repoRoot } from '../../core/paths.js';
import { resolveAccel } from '../../vm/accel.js';
import { createMachine } from '../../vm/backends.js';
import { runChecked } from '../../vm/exec.js';
import type { MachineEvent } from '../../vm/machine.js';
import { PortAllocator } from '../../vm/ports.js';
import type { QemuMachine } from '../../vm/qemu/machine.js';
import { reapOrphans } from '../../vm/reaper.js';
import { expectPanicFailsFast, expectRebootRestartsOnSameOverlay, failureOf } from '../support/machine-contract.js';
import { createTinyBaseDisk, ensureTinyGuest, tinyGuestSpec, TINY_READY, type TinyGuest, type TinyGuestMode } from '../support/tiny-guest.js';
import { processesMentioning } from '../support/processes.js';

async function waitUntil(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('vm: QEMU machines with the tiny guest (TCG)', function () {
  this.timeout(120_000);
  let guest: TinyGuest;
  let root: string;
  let machines: QemuMachine[] = [];
  let children: ChildProcess[] = [];
  const stateDir = (): string => path.join(root, 'state');

  before(async function () {
    this.timeout(300_000);
    guest = await ensureTinyGuest();
  });

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-vm-it-'));
    machines = [];
    children = [];
  });

  afterEach(async () => {
    for (const m of machines) await m.destroy();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // Orphans of the SIGKILL tests, should an assertion have failed before they were reaped.
    await reapOrphans({ stateDir: stateDir() });
    for (const pid of processesMentioning(root)) process.kill(pid, 'SIGKILL');
    await fs.rm(root, { recursive: true, force: true });
  });

  function machine(name: string, mode: TinyGuestMode, extra: { baseDisk?: string; diskDir?: string; ports?: PortAllocator } = {}): QemuMachine {
    const spec = tinyGuestSpec(guest, { name, runDir: path.join(root, 'run', name), mode, ...(extra.baseDisk ? { baseDisk: extra.baseDisk } : {}), ...(extra.diskDir ? { diskDir: extra.diskDir } : {}) });
    const m = createMachine(spec, { runId: 'it', stateDir: stateDir(), ...(extra.ports ? { ports: extra.ports } : {}) }) as QemuMachine;
    machines.push(m);
    return m;
  }

  it('captures the console, forwards 127.0.0.1 only, and powers off through QMP', async () => {
    const m = machine('console', 'normal');
    const t0 = Date.now();
    await m.start();
    const match = await m.waitForConsole(/TINYGUEST-READY boot_id=(\S+)/, { timeoutMs: 60_000, signal: m.failureSignal });
    console.log(`      tiny guest: QEMU start → ready marker ${Date.now() - t0} ms`);
    expect(match[1]).to.match(/^[0-9a-f-]{36}$/);
    expect(m.consoleLog).to.equal(path.join(root, 'run', 'console', 'console-1.log'));
    expect(await fs.readFile(m.consoleLog, 'utf8')).to.contain('TINYGUEST-READY');
    // Text that is already captured matches at once.
    const again = Date.now();
    await m.waitForConsole(/userspace up, mode=normal/, { timeoutMs: 1000 });
    expect(Date.now() - again).to.be.lessThan(500);
    expect(m.consoleTail(5)).to.contain('TINYGUEST-READY');
    // Timeouts say what they waited for and show the console.
    const timeout = (await m.waitForConsole(/never-printed/, { timeoutMs: 300 }).then(
      () => new Error('matched unexpectedly'),
      (e: unknown) => e as Error,
    ));
    expect(timeout.message).to.match(/timed out after 300 ms waiting for \/never-printed\/.*\n.*TINYGUEST/s);

    const port = m.sshEndpoint?.port;
    expect(m.sshEndpoint?.host).to.equal('127.0.0.1');
    const ss = await runChecked('ss', ['-Hltnp', `sport = :${port}`]);
    const listeners = ss.stdout.trim().split('\n').filter(Boolean);
    expect(listeners, ss.stdout).to.have.length(1);
    expect(listeners[0]).to.contain(`127.0.0.1:${port}`);
    expect(listeners[0]).to.contain(`pid=${m.pid}`);
    const banner = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(port ?? 0, '127.0.0.1');
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
      setTimeout(() => (sock.destroy(), resolve(data)), 5000);
    });
    expect(banner).to.contain('SSH-2.0-TinyGuest');

    const events: MachineEvent[] = [];
    m.on((e) => events.push(e));
    const qemuPid = m.pid ?? 0;
    const t1 = Date.now();
    await m.powerOff(30_000);
    console.log(`      QMP system_powerdown → QEMU exit ${Date.now() - t1} ms`);
    expect(Date.now() - t1).to.be.lessThan(25_000); // the guest handled the power button; no SIGKILL fallback
    expect(m.running).to.equal(false);
    expect(processesMentioning(m.spec.runDir)).to.deep.equal([]);
    expect(m.failureSignal.aborted).to.equal(false);
    expect(await fs.readFile(m.consoleLog, 'utf8')).to.contain('TINYGUEST: power button');
    expect(existsSync(`/proc/${qemuPid}/cmdline`) && readFileSync(`/proc/${qemuPid}/cmdline`, 'utf8').includes(root)).to.equal(false);
    expect(existsSync(m.pidfilePath)).to.equal(false);
  });

  it('aborts failureSignal with kind panic within 2 s of a kernel panic', async () => {
    await expectPanicFailsFast(machine('panic', 'panic'));
  });

  it('reports QEMU dying (SIGKILL) at once as kind died with the exit status', async () => {
    const m = machine('death', 'normal');
    const died: MachineEvent[] = [];
    m.on((e) => e.type === 'died' && died.push(e));
    await m.start();
    await m.waitForConsole(TINY_READY, { timeoutMs: 60_000, signal: m.failureSignal });
    const t0 = Date.now();
    process.kill(m.pid ?? 0, 'SIGKILL');
    const failure = await failureOf(m.failureSignal);
    console.log(`      SIGKILL → failureSignal ${Date.now() - t0} ms`);
    expect(Date.now() - t0).to.be.lessThan(3000);
    expect(failure.kind).to.equal('died');
    expect(failure.message).to.match(/machine death died: QEMU \(pid \d+\) killed by signal SIGKILL without a shutdown request/);
    expect(failure.message).to.contain('TINYGUEST-READY');
    expect(died).to.have.length(1);
  });

  it('a guest that fills a host filesystem stops at once as kind disk-full, naming the disk folder and its free space', async function () {
    // A real full filesystem: a 12 MiB tmpfs under the disk folder (mounting needs root; CI runs as root).
    if (process.getuid?.() !== 0) this.skip();
    const disks = path.join(root, 'small-fs');
    await fs.mkdir(disks);
    await runChecked('mount', ['-t', 'tmpfs', '-o', 'size=12m,mode=0700', 'tmpfs', disks]);
    try {
      const base = await createTinyBaseDisk(path.join(root, 'base-64m.raw'), 64);
      const m = machine('full', 'fill-disk', { baseDisk: base, diskDir: disks });
      await m.start();
      await m.waitForConsole(/TINYGUEST: filling the disk/, { timeoutMs: 60_000, signal: m.failureSignal });
      // Without the BLOCK_IO_ERROR handling the guest just sits paused: bound the wait.
      const failure = await Promise.race([
        failureOf(m.failureSignal),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no machine failure within 30 s of the disk filling (the guest sits paused)')), 30_000).unref()),
      ]);
      console.log(`      ${failure.message.split('\n')[0]}`);
      expect(failure.kind).to.equal('disk-full');
      expect(failure.message).to.match(/machine full stopped: QEMU paused the guest because a write to its disk \S+ failed with no space left on the host filesystem \(\d+ KiB free of 12\.0 MiB\)/);
      expect(failure.message).to.include(`the disks live in ${disks}`);
      expect(failure.message).to.include('--work-dir DIR');
      expect(existsSync(path.join(disks, 'overlay.qcow2'))).to.equal(true);
      expect(existsSync(path.join(root, 'run', 'full', 'overlay.qcow2'))).to.equal(false);
      expect(m.consoleTail(20)).to.not.include('TINYGUEST: filled the disk');
    } finally {
      for (const m of machines) await m.destroy();
      await runChecked('umount', [disks]);
    }
  });

  it('restarts QEMU transparently when the guest reboots; the base disk is never written', async () => {
    const base = await createTinyBaseDisk(path.join(root, 'base.raw'));
    await expectRebootRestartsOnSameOverlay(machine('reboot', 'reboot-once', { baseDisk: base }), base);
  });

  it('handles QMP system_reset as a fresh boot and guest poweroff as powered off', async () => {
    const m = machine('reset', 'normal');
    await m.start();
    await m.waitForConsole(TINY_READY, { timeoutMs: 60_000, signal: m.failureSignal });
    const t0 = Date.now();
    await m.reset();
    await m.waitForConsole(TINY_READY, { timeoutMs: 60_000, sinceBoot: 2, signal: m.failureSignal });
    console.log(`      QMP system_reset → ready on boot 2: ${Date.now() - t0} ms`);
    expect(m.bootCount).to.equal(2);

    const off = machine('selfoff', 'poweroff');
    const events: string[] = [];
    off.on((e) => events.push(e.type));
    await off.start();
    await waitUntil('the guest powered itself off', () => events.includes('guest-shutdown'), 60_000);
    expect(off.running).to.equal(false);
    expect(off.failureSignal.aborted).to.equal(false);
    const err = await off.waitForConsole(/never/, { timeoutMs: 5000 }).then(
      () => new Error('matched unexpectedly'),
      (e: unknown) => e as Error,
    );
    expect(err.message).to.match(/is powered off/);
  });

  it('retries on another port when the forwarding port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      // An allocator whose first offer is the taken port.
      const ports = new PortAllocator({ min: taken, max: taken + 1 });
      const offered: number[] = [];
      const acquire = ports.acquire.bind(ports);
      ports.acquire = (avoid = []) => {
        const p = offered.length === 0 ? taken : acquire([...avoid, taken]);
        offered.push(p);
        return p;
      };
      const m = machine('ports', 'normal', { ports });
      await m.start();
      expect(offered[0]).to.equal(taken);
      expect(m.sshEndpoint?.port).to.equal(taken + 1);
      expect(await fs.readFile(path.join(m.spec.runDir, 'qemu-1.stderr.log'), 'utf8')).to.equal('');
    } finally {
      blocker.close();
    }
  });

  it('resolves the accelerator by a real KVM probe within 10 s', async () => {
    const t0 = Date.now();
    const verdict = await resolveAccel('auto');
    const ms = Date.now() - t0;
    console.log(`      KVM probe: ${ms} ms → ${verdict.accel}: ${verdict.reason}`);
    expect(ms).to.be.lessThan(10_000);
    expect(verdict.probe).to.not.equal(undefined);
    expect(verdict.accel).to.equal(verdict.probe?.ok ? 'kvm' : 'tcg');
    expect(verdict.reason).to.contain(verdict.probe?.detail ?? '?');
    if (verdict.accel === 'tcg') {
      expect(verdict.timeoutScale).to.be.greaterThan(1);
      const err = await resolveAccel('kvm').catch((e: unknown) => e);
      expect(err).to.be.instanceOf(HostNotCapableError);
      expect((err as HostNotCapableError).remedy).to.match(/tcg/);
    }
    // Cached: a second call does not probe again.
    const t1 = Date.now();
    await resolveAccel('auto');
    expect(Date.now() - t1).to.be.lessThan(50);
  });

  it('an interrupt during the KVM probe leaves no probe QEMU behind', async function () {
    // A harness-like child: signal handlers, then the probe; SIGINT it while the probe's QEMU runs.
    const script = `import { installSignalHandlers } from './vm/reaper.ts';
import { probeKvm } from './vm/accel.ts';
installSignalHandlers();
await probeKvm({ probeTimeoutMs: 20000 });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: 'ignore' });
    let probe: number | undefined;
    try {
      for (let i = 0; i < 100 && probe === undefined && child.exitCode === null; i++) {
        await new Promise((r) => setTimeout(r, 100));
        probe = processesMentioning('bootpath-kvm-probe-').find((pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[3] === String(child.pid));
      }
      // Healthy KVM finishes the probe in milliseconds; no /dev/kvm means no probe QEMU at all.
      if (probe === undefined) this.skip();
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code).to.equal(130);
      await new Promise((r) => setTimeout(r, 200));
      expect(existsSync(`/proc/${probe}`) && !/^\S+ \S+ Z/.test(readFileSync(`/proc/${probe}/stat`, 'utf8').replace(/\(.*\)/, 'x')), `probe QEMU ${probe} still running`).to.equal(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      // (a failing run must not leave the very orphan it found)
      if (probe !== undefined) {
        try {
          process.kill(probe, 'SIGKILL');
        } catch {
          // gone, as it should be
        }
      }
    }
  });

  describe('teardown of a harness process', () => {
    /** Start the child harness; resolves with what it printed once its machine runs. */
    async function startChild(env: Record<string, string>): Promise<{ child: ChildProcess; pid: number; runDir: string; pidfile: string }> {
      const runDir = path.join(root, 'run', 'child');
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/fixtures/vm/harness-child.ts')], {
        cwd: repoRoot,
        env: { ...process.env, CHILD_RUN_DIR: runDir, BOOTPATH_STATE_DIR: stateDir(), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
        });
        child.on('exit', (code) => reject(new Error(`child harness exited early (${String(code)}): ${stderr}`)));
      });
      const info = JSON.parse(line) as { pid: number; runDir: string; pidfile: string };
      expect(processesMentioning(runDir)).to.include(info.pid);
      return { child, ...info };
    }

    function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
      return new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
    }

    it('SIGINT: kills its machines and exits 130, leaving no QEMU behind', async () => {
      const { child, runDir, pidfile } = await startChild({});
      expect(existsSync(pidfile)).to.equal(true);
      child.kill('SIGINT');
      const status = await exitOf(child);
      expect(status.code).to.equal(130);
      await waitUntil('QEMU is gone', () => processesMentioning(runDir).length === 0, 2000);
      expect(existsSync(pidfile)).to.equal(false);
    });

    it('SIGKILL with setpriv: QEMU dies with its parent (pdeathsig)', async () => {
      const { child, pid, runDir } = await startChild({});
      child.kill('SIGKILL');
      await exitOf(child);
      await waitUntil(`QEMU ${pid} is gone`, () => processesMentioning(runDir).length === 0, 3000);
    });

    it('SIGKILL without pdeathsig: reapOrphans() kills the orphan by its pidfile', async () => {
      const { child, pid, runDir, pidfile } = await startChild({ BOOTPATH_VM_NO_PDEATHSIG: '1' });
      child.kill('SIGKILL');
      await exitOf(child);
      await new Promise((r) => setTimeout(r, 300));
      expect(processesMentioning(runDir), 'the orphan survives its owner').to.include(pid);
      const report = await reapOrphans({ stateDir: stateDir() });
      expect(report.killed).to.deep.equal([{ pid, runDir, pidfile }]);
      await waitUntil('the orphan is gone', () => processesMentioning(runDir).length === 0, 2000);
      expect(existsSync(pidfile)).to.equal(false);
      expect(await reapOrphans({ stateDir: stateDir() })).to.deep.equal({ killed: [], removedStale: [], skipped: [] });
    });
  });
});
