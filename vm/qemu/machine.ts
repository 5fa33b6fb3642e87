import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { HostNotCapableError, InfraError, errorMessage } from '../../core/errors.js';
import type { ConsoleCheck } from '../console-checks.js';
import type { ConsoleTail } from '../console.js';
import { whichBinary } from '../exec.js';
import { QEMU_BINARY } from '../host-facts.js';
import { MachineBase } from '../machine-base.js';
import { MachineConsole } from '../machine-console.js';
import { prepareMachineFiles } from '../machine-files.js';
import type { Machine, MachineSpec } from '../machine.js';
import { isHostfwdBindFailure, MAX_PORT_ATTEMPTS, type PortAllocator } from '../ports.js';
import { QmpClient, type QmpEvent } from '../qmp.js';
import { newMachineMarker } from '../machine-identity.js';
import { pidfilePath, registerLiveProcess, writePidfile } from '../reaper.js';
import { buildQemuArgs, withParentDeathSignal, type QemuLaunch } from './command.js';

export interface QemuMachineOptions {
  /** Groups machines of one run in pidfile names and process titles. Default: the run dir's parent name. */
  runId?: string;
  qemuBinary?: string;
  /**
   * Start QEMU under `setpriv --pdeathsig KILL` (when setpriv exists). Default true;
   * BOOTPATH_VM_NO_PDEATHSIG=1 turns it off (tests of the pidfile reaper use that).
   */
  parentDeathSignal?: boolean;
  consoleChecks?: readonly ConsoleCheck[];
  /** Where pidfiles go (default core/paths stateDir()). */
  stateDir?: string;
  machineType?: 'q35' | 'pc';
  ports?: PortAllocator;
  /** Deadline for QEMU to come up to a running state (not for the guest to boot). */
  startTimeoutMs?: number;
}

interface Boot {
  n: number;
  tail: ConsoleTail;
  child: ChildProcess;
  qmp: QmpClient;
  stderrLog: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  unregister: () => void;
}

/** SHUTDOWN reasons after which a -no-reboot QEMU exit means "boot again". */
const RESET_REASONS = new Set(['guest-reset', 'host-qmp-system-reset']);

export class QemuMachine extends MachineBase<Boot> implements Machine {
  private readonly opts: QemuMachineOptions;
  private setpriv: string | null = null;
  private launchBase: Omit<QemuLaunch, 'consoleLog' | 'hostPort' | 'qmp'> | null = null;
  private pidfile: string;
  /** Unique per machine, in QEMU's `-name` and the pidfile: what lets `gc` prove a process is this machine. */
  private readonly marker = newMachineMarker();
  private ownedFiles: string[] = [];

  constructor(spec: MachineSpec, opts: QemuMachineOptions = {}) {
    super(spec, opts);
    this.opts = opts;
    this.pidfile = pidfilePath(this.runId, spec.name, this.marker, opts.stateDir);
  }

  protected isOff(): boolean {
    return this.state === 'off' && !this.current && !this.restarting;
  }

  /** pid of the current QEMU process (null when not running). */
  get pid(): number | null {
    return this.current?.child.pid ?? null;
  }

  /** Whether a QEMU process is currently running for this machine. */
  get running(): boolean {
    return this.current !== null;
  }

  get pidfilePath(): string {
    return this.pidfile;
  }

  // -------------------------------------------------------------------------------------------
  // start

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`machine ${this.spec.name} was already started`);
    this.state = 'starting';
    const spec = this.spec;
    try {
      const { overlay, extraDisks, ignitionConfig, seedIso, smbiosCredentialFiles, uefi } = await prepareMachineFiles(spec, this.ownedFiles);

      const pdeath = this.opts.parentDeathSignal ?? process.env.BOOTPATH_VM_NO_PDEATHSIG !== '1';
      this.setpriv = pdeath ? await whichBinary('setpriv') : null;

      const base: Omit<QemuLaunch, 'consoleLog' | 'hostPort' | 'qmp'> = {
        qemuBinary: this.opts.qemuBinary ?? QEMU_BINARY,
        accel: spec.accel,
        runId: this.runId,
        machineName: spec.name,
        marker: this.marker,
        memoryMiB: spec.memoryMiB,
        cpus: spec.cpus,
        extraDisks,
        guestPort: spec.sshGuestPort ?? 22,
        noReboot: spec.restartOnGuestReset ?? true,
      };
      if (this.opts.machineType) base.machineType = this.opts.machineType;
      if (overlay) base.overlay = overlay;
      if (ignitionConfig) base.ignitionConfig = ignitionConfig;
      if (seedIso) base.seedIso = seedIso;
      if (smbiosCredentialFiles) base.smbiosCredentialFiles = smbiosCredentialFiles;
      if (uefi) base.uefi = uefi;
      if (spec.directKernel) base.directKernel = spec.directKernel;
      this.launchBase = base;

      await this.launch(1);
      this.state = 'running';
    } catch (err) {
      await this.destroy({ keepFiles: true }).catch(() => undefined);
      if (err instanceof HostNotCapableError || err instanceof InfraError) throw err;
      throw new InfraError(`machine ${spec.name} could not start: ${errorMessage(err)}`, 'machine-start');
    }
  }

  /** Spawn one QEMU process for boot `n`; retries with a new port when the forward cannot bind. */
  private async launch(n: number): Promise<void> {
    const base = this.launchBase;
    if (!base) throw new Error('launch before start');
    const consoleLog = MachineConsole.fileFor(this.spec.runDir, n);
    const stderrLog = path.join(this.spec.runDir, `qemu-${n}.stderr.log`);
    const wantsPort = this.spec.sshGuestPort !== null;
    let lastError = '';
    for (let attempt = 1; attempt <= MAX_PORT_ATTEMPTS; attempt++) {
      // Keep the machine's port across restarts (the harness may hold it); a new one only if taken.
      if (wantsPort && this.port === null) this.port = this.ports.acquire();
      const launch: QemuLaunch = { ...base, consoleLog, hostPort: wantsPort ? this.port : null, qmp: { fd: 3 } };
      const argv = buildQemuArgs(launch);
      const cmd = withParentDeathSignal(this.setpriv, base.qemuBinary, argv);
      await fs.rm(consoleLog, { force: true });
      const errFd = openSync(stderrLog, 'w', 0o600);
      let child: ChildProcess;
      try {
        // detached: its own process group, so a terminal Ctrl-C reaches bootpath (which then kills
        // QEMU) instead of QEMU exiting on its own first and looking like a crash.
        child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'ignore', errFd, 'pipe'], detached: true });
      } finally {
        closeSync(errFd);
      }
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.once('error', () => resolve({ code: null, signal: null }));
      });
      const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
      const unregister = child.pid
        ? registerLiveProcess({ pid: child.pid, pidfile: this.pidfile, label: `${this.runId}/${this.spec.name}` })
        : () => undefined;

      let qmp: QmpClient;
      try {
        const stream = child.stdio[3] as Duplex | null;
        if (!stream) throw new Error('QEMU has no QMP channel');
        qmp = await Promise.race([
          QmpClient.fromStream(stream, { timeoutMs: this.opts.startTimeoutMs ?? 30_000 }),
          spawnError.then((e) => Promise.reject(new Error(`cannot run ${cmd.file}: ${e.message}`))),
        ]);
        // query-status answers only once QEMU's main loop runs, i.e. after every backend (the
        // port forward included) was set up.
        await qmp.queryStatus();
      } catch (err) {
        child.kill('SIGKILL');
        const status = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
        unregister();
        const stderr = (await fs.readFile(stderrLog, 'utf8').catch(() => '')).trim();
        if (wantsPort && isHostfwdBindFailure(stderr) && this.port !== null) {
          // Someone else holds the port: retry on another one.
          const taken = this.port;
          this.ports.release(taken);
          this.port = null;
          lastError = `port ${taken} was taken`;
          continue;
        }
        const how = status ? (status.signal ? `signal ${status.signal}` : `exit code ${String(status.code)}`) : 'no exit';
        throw new InfraError(
          `QEMU for machine ${this.spec.name} failed to start (${how}): ${stderr || errorMessage(err)} [command: ${cmd.file} ${cmd.args.join(' ')}]`,
          'machine-start',
        );
      }

      const tail = this.console.startBoot(n, consoleLog);
      const boot: Boot = { n, tail, child, qmp, stderrLog, exited, unregister };
      this.current = boot;
      if (child.pid) {
        await writePidfile(this.pidfile, {
          pid: child.pid,
          runDir: this.spec.runDir,
          runId: this.runId,
          machine: this.spec.name,
          marker: this.marker,
          ...(base.overlay !== undefined ? { overlay: base.overlay } : {}),
        });
      }
      void exited.then((status) => this.onQemuExit(boot, status));
      this.emit({ type: 'boot', boot: n, consoleLog });
      return;
    }
    throw new InfraError(`QEMU for machine ${this.spec.name} could not bind a forwarding port after ${MAX_PORT_ATTEMPTS} attempts (last: ${lastError})`, 'machine-start');
  }

  // -------------------------------------------------------------------------------------------
  // console problems and failures

  private fail(kind: 'panic' | 'died' | 'console-error', message: string): void {
    this.console.fail(kind, message);
  }

  private async onQemuExit(boot: Boot, status: { code: number | null; signal: NodeJS.Signals | null }): Promise<void> {
    boot.unregister();
    // The SHUTDOWN event may still be in flight on the QMP stream: let it drain (it closes with QEMU).
    await Promise.race([boot.qmp.closed, new Promise((r) => setTimeout(r, 1000))]);
    boot.qmp.close();
    await boot.tail.stop();
    if (this.current === boot) this.current = null;

    const shutdown = lastShutdown(boot.qmp.events);
    const reason = typeof shutdown?.data?.['reason'] === 'string' ? shutdown.data['reason'] : null;
    if (this.intent !== 'none' || this.state === 'destroyed') {
      this.state = this.state === 'destroyed' ? 'destroyed' : 'off';
      await fs.rm(this.pidfile, { force: true });
      return;
    }
    if (reason && RESET_REASONS.has(reason) && (this.spec.restartOnGuestReset ?? true)) {
      this.emit({ type: 'guest-reset', boot: boot.n });
      this.restarting = this.launch(boot.n + 1).catch((err: unknown) => {
        const message = `machine ${this.spec.name} died: could not restart QEMU after the guest rebooted: ${errorMessage(err)}`;
        this.emit({ type: 'died', boot: boot.n, message });
        this.fail('died', message);
      });
      await this.restarting;
      this.restarting = null;
      return;
    }
    await fs.rm(this.pidfile, { force: true });
    if (reason === 'guest-shutdown') {
      this.state = 'off';
      this.emit({ type: 'guest-shutdown', boot: boot.n });
      this.console.wake(); // wake waiters: no more console will come
      return;
    }
    this.state = 'off';
    const how = status.signal ? `killed by signal ${status.signal}` : `exited with code ${String(status.code)}`;
    const stderr = (await fs.readFile(boot.stderrLog, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
    const message =
      `machine ${this.spec.name} died: QEMU (pid ${boot.child.pid ?? '?'}) ${how}` +
      (reason ? ` after SHUTDOWN reason ${reason}` : ' without a shutdown request') +
      (stderr ? `; QEMU said: ${stderr}` : '') +
      `; last console lines:\n${boot.tail.tail(15)}`;
    this.emit({ type: 'died', boot: boot.n, message });
    this.fail(reason === 'guest-panic' ? 'panic' : 'died', message);
  }

  // -------------------------------------------------------------------------------------------
  // power

  /** The QMP client of the running QEMU process (for harness-level fault injection). */
  get qmp(): QmpClient | null {
    return this.current?.qmp ?? null;
  }

  async powerOff(timeoutMs = 60_000): Promise<void> {
    await this.settleRestart();
    const boot = this.current;
    if (!boot) return;
    this.intent = 'power-off';
    try {
      await boot.qmp.systemPowerdown();
    } catch {
      // QMP gone: QEMU is exiting anyway; the wait below decides
    }
    const exited = await Promise.race([boot.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
    if (!exited) {
      boot.child.kill('SIGKILL');
      await boot.exited;
    }
    await this.waitCurrentGone(boot);
  }

  async reset(): Promise<void> {
    await this.settleRestart();
    const boot = this.current;
    if (!boot) throw new InfraError(`machine ${this.spec.name} is not running; cannot reset it`, 'machine-died');
    await boot.qmp.systemReset();
  }

  async kill(): Promise<void> {
    await this.settleRestart();
    const boot = this.current;
    if (!boot) return;
    this.intent = 'kill';
    boot.child.kill('SIGKILL');
    await boot.exited;
    await this.waitCurrentGone(boot);
  }

  private async waitCurrentGone(boot: Boot): Promise<void> {
    // onQemuExit clears current after draining QMP and the console; wait for that.
    for (let i = 0; i < 100 && this.current === boot; i++) await new Promise((r) => setTimeout(r, 20));
  }

  protected async doDestroy(opts: { keepFiles?: boolean }): Promise<void> {
    this.intent = 'destroy';
    await this.settleRestart().catch(() => undefined);
    const boot = this.current;
    this.state = 'destroyed';
    if (boot) {
      boot.child.kill('SIGKILL');
      await boot.exited;
      await this.waitCurrentGone(boot);
      boot.unregister();
    }
    await this.console.stopAll();
    if (this.port !== null) this.ports.release(this.port);
    await fs.rm(this.pidfile, { force: true });
    if (!opts.keepFiles) {
      for (const f of this.ownedFiles) await fs.rm(f, { force: true });
    }
    this.console.clearWaiters();
  }
}

function lastShutdown(events: readonly QmpEvent[]): QmpEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) if (events[i]?.event === 'SHUTDOWN') return events[i];
  return undefined;
}
