import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { InfraError, errorMessage } from '../../core/errors.js';
import type { ConsoleCheck } from '../console-checks.js';
import type { ConsoleTail } from '../console.js';
import { QEMU_BINARY } from '../host-facts.js';
import { MachineBase, type LaunchResult, type LaunchTarget } from '../machine-base.js';
import { prepareMachineFiles } from '../machine-files.js';
import type { MachineSpec } from '../machine.js';
import { parentDeathHelper, withParentDeathSignal } from '../parent-death.js';
import { isHostfwdBindFailure, type PortAllocator } from '../ports.js';
import { QmpClient, type QmpEvent } from '../qmp.js';
import { newMachineMarker } from '../machine-identity.js';
import { pidfilePath, registerLiveProcess, writePidfile } from '../reaper.js';
import { buildQemuArgs, type QemuLaunch } from './command.js';

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

interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Boot {
  n: number;
  tail: ConsoleTail;
  child: ChildProcess;
  qmp: QmpClient;
  stderrLog: string;
  exited: Promise<ExitStatus>;
  unregister: () => void;
}

export class QemuMachine extends MachineBase<Boot> {
  protected readonly bootNoun = 'QEMU';
  private readonly opts: QemuMachineOptions;
  private setpriv: string | null = null;
  private launchBase: Omit<QemuLaunch, 'consoleLog' | 'hostPort' | 'qmp'> | null = null;
  private readonly pidfile: string;
  /** Unique per machine, in QEMU's `-name` and the pidfile: what lets `gc` prove a process is this machine. */
  private readonly marker = newMachineMarker();

  constructor(spec: MachineSpec, opts: QemuMachineOptions = {}) {
    super(spec, opts);
    this.opts = opts;
    this.pidfile = pidfilePath(this.runId, spec.name, this.marker, opts.stateDir);
  }

  /** pid of the current QEMU process (null when not running). */
  get pid(): number | null {
    return this.current?.child.pid ?? null;
  }

  get pidfilePath(): string {
    return this.pidfile;
  }

  /** The QMP client of the running QEMU process (for harness-level fault injection). */
  get qmp(): QmpClient | null {
    return this.current?.qmp ?? null;
  }

  // -------------------------------------------------------------------------------------------
  // boots

  protected async prepare(): Promise<void> {
    const spec = this.spec;
    const { overlay, extraDisks, ignitionConfig, seedIso, smbiosCredentialFiles, uefi } = await prepareMachineFiles(spec, this.ownedFiles);
    this.setpriv = await parentDeathHelper(this.opts.parentDeathSignal);
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
  }

  /** Spawn one QEMU process for boot `n` and wait until its main loop runs. */
  protected async launchBoot(n: number, target: LaunchTarget): Promise<LaunchResult<Boot>> {
    const base = this.launchBase;
    if (!base) throw new Error('launch before start');
    const stderrLog = path.join(this.spec.runDir, `qemu-${n}.stderr.log`);
    const launch: QemuLaunch = { ...base, consoleLog: target.consoleLog, hostPort: target.hostPort, qmp: { fd: 3 } };
    const cmd = withParentDeathSignal(this.setpriv, base.qemuBinary, buildQemuArgs(launch));
    const errFd = openSync(stderrLog, 'w', 0o600);
    let child: ChildProcess;
    try {
      // detached: its own process group, so a terminal Ctrl-C reaches bootpath (which then kills
      // QEMU) instead of QEMU exiting on its own first and looking like a crash.
      child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'ignore', errFd, 'pipe'], detached: true });
    } finally {
      closeSync(errFd);
    }
    const exited = new Promise<ExitStatus>((resolve) => {
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
      if (target.hostPort !== null && isHostfwdBindFailure(stderr)) return { kind: 'port-taken' };
      const how = status ? (status.signal ? `signal ${status.signal}` : `exit code ${String(status.code)}`) : 'no exit';
      throw new InfraError(
        `QEMU for machine ${this.spec.name} failed to start (${how}): ${stderr || errorMessage(err)} [command: ${cmd.file} ${cmd.args.join(' ')}]`,
        'machine-start',
      );
    }
    const tail = this.console.startBoot(n, target.consoleLog);
    return { kind: 'started', boot: { n, tail, child, qmp, stderrLog, exited, unregister } };
  }

  protected async watchBoot(boot: Boot): Promise<void> {
    if (boot.child.pid) {
      await writePidfile(this.pidfile, {
        pid: boot.child.pid,
        runDir: this.spec.runDir,
        runId: this.runId,
        machine: this.spec.name,
        marker: this.marker,
        ...(this.launchBase?.overlay !== undefined ? { overlay: this.launchBase.overlay } : {}),
      });
    }
    boot.qmp.onEvent((ev) => {
      // QAPI BLOCK_IO_ERROR: device, operation, action (stop with the default werror=enospc), nospace, reason.
      if (ev.event !== 'BLOCK_IO_ERROR' || ev.data?.['action'] !== 'stop') return;
      const nospace = typeof ev.data['nospace'] === 'boolean' ? ev.data['nospace'] : null;
      const device = typeof ev.data['device'] === 'string' && ev.data['device'] ? ev.data['device'] : String(ev.data['node-name'] ?? '?');
      const reason = typeof ev.data['reason'] === 'string' ? ev.data['reason'] : 'unknown';
      void this.diskWriteStopped(boot, { nospace, device, reason });
    });
    void boot.exited.then((status) => this.onQemuExit(boot, status));
  }

  private async onQemuExit(boot: Boot, status: ExitStatus): Promise<void> {
    boot.unregister();
    // The SHUTDOWN event may still be in flight on the QMP stream: let it drain (it closes with QEMU).
    await Promise.race([boot.qmp.closed, new Promise((r) => setTimeout(r, 1000))]);
    boot.qmp.close();
    // A restart writes the next boot's pidfile; in every other case this one is stale now.
    await fs.rm(this.pidfile, { force: true });
    const shutdown = lastShutdown(boot.qmp.events);
    const reason = typeof shutdown?.data?.['reason'] === 'string' ? shutdown.data['reason'] : null;
    const how = status.signal ? `killed by signal ${status.signal}` : `exited with code ${String(status.code)}`;
    await this.bootEnded(boot, {
      reason,
      how: `QEMU (pid ${boot.child.pid ?? '?'}) ${how}`,
      diagnostics: async () => {
        const stderr = (await fs.readFile(boot.stderrLog, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
        return stderr ? `QEMU said: ${stderr}` : '';
      },
    });
  }

  // -------------------------------------------------------------------------------------------
  // power

  protected async requestPowerOff(boot: Boot): Promise<boolean> {
    try {
      await boot.qmp.systemPowerdown();
    } catch {
      // QMP gone: QEMU is exiting anyway; the wait for the end of the boot decides
    }
    return true;
  }

  protected async resetBoot(boot: Boot): Promise<void> {
    await boot.qmp.systemReset();
  }

  protected async stopBoot(boot: Boot): Promise<void> {
    boot.child.kill('SIGKILL');
    await boot.exited;
  }

  protected async releaseMachine(): Promise<void> {
    await fs.rm(this.pidfile, { force: true });
  }
}

function lastShutdown(events: readonly QmpEvent[]): QmpEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) if (events[i]?.event === 'SHUTDOWN') return events[i];
  return undefined;
}
