/**
 * The boot lifecycle every backend's Machine shares. A machine runs one boot at a time (one QEMU
 * process, one libvirt domain…) on the same overlay; the guest rebooting ends a boot and the
 * machine starts the next one with a new console file and the same forwarded port. What this
 * class decides once for every backend:
 *
 * - start(): prepare → first boot (with port retries) → started; a failure destroys and says why;
 * - the port-retry launch loop: a forward that cannot bind means "try another port";
 * - when a boot ends: restart (guest reset), powered off (guest shutdown), stopped by the harness
 *   (power off / kill / destroy), or died (anything else → failureSignal), from QEMU's SHUTDOWN
 *   reason — one decision function, so no backend can misspell a reason;
 * - powerOff / kill / reset wrappers and the idempotent destroy tail.
 *
 * A backend supplies only the primitives: how a boot is launched, watched, asked to power off,
 * reset and stopped, and what it holds beyond its boots.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { HostNotCapableError, InfraError, errorMessage } from '../core/errors.js';
import type { ConsoleCheck } from './console-checks.js';
import type { ConsoleTail } from './console.js';
import { Listeners } from './listeners.js';
import { MachineConsole } from './machine-console.js';
import type { Machine, MachineEvent, MachineFailure, MachineSpec, SshEndpoint } from './machine.js';
import { sanitizeName } from './names.js';
import { hostPorts, MAX_PORT_ATTEMPTS, type PortAllocator } from './ports.js';

export type MachineIntent = 'none' | 'power-off' | 'kill' | 'destroy';
export type MachineState = 'new' | 'starting' | 'running' | 'off' | 'destroyed';

export interface MachineBaseOptions {
  /** Groups machines of one run (pidfiles, process titles, domain names). Default: the run dir's parent name. */
  runId?: string;
  ports?: PortAllocator;
  consoleChecks?: readonly ConsoleCheck[];
}

/** What the base needs of a backend's boot record. */
export interface BootHandle {
  readonly n: number;
  readonly tail: ConsoleTail;
}

/** A launch either runs, or its port forward could not bind (the base then retries on another port). */
export type LaunchResult<Boot> = { kind: 'started'; boot: Boot } | { kind: 'port-taken' };

/** Where a boot's output and forward go; chosen by the base, the same for every backend. */
export interface LaunchTarget {
  consoleLog: string;
  /** null: the spec asks for no forward. */
  hostPort: number | null;
}

/** How a boot ended, as the backend saw it. */
export interface BootEnd {
  /** QEMU's SHUTDOWN reason (QMP ShutdownCause) of this boot; null when none came. */
  reason: string | null;
  /** The backend's words for the end, e.g. "QEMU (pid 12) exited with code 1". */
  how: string;
  /** A short diagnostic for a death (QEMU's stderr, libvirt's log), '' when there is none. */
  diagnostics: () => Promise<string>;
}

/** QMP ShutdownCause values after which the end of a boot means "boot again". */
const RESET_REASONS: ReadonlySet<string> = new Set(['guest-reset', 'host-qmp-system-reset']);
/** QMP ShutdownCause of a guest that panicked (pvpanic): a death of kind 'panic'. */
export const PANIC_REASON = 'guest-panic';
/** QMP ShutdownCause of a guest that powered itself off. */
const SHUTDOWN_REASON = 'guest-shutdown';

export type BootEndDecision =
  | { kind: 'stopped-by-harness' }
  | { kind: 'restart' }
  | { kind: 'powered-off' }
  | { kind: 'died'; failure: MachineFailure['kind'] };

/** What the end of a boot means. Pure: the one place SHUTDOWN reasons are read. */
export function decideBootEnd(input: { intent: MachineIntent; destroyed: boolean; reason: string | null; restartOnGuestReset: boolean }): BootEndDecision {
  if (input.intent !== 'none' || input.destroyed) return { kind: 'stopped-by-harness' };
  if (input.reason !== null && RESET_REASONS.has(input.reason) && input.restartOnGuestReset) return { kind: 'restart' };
  if (input.reason === SHUTDOWN_REASON) return { kind: 'powered-off' };
  return { kind: 'died', failure: input.reason === PANIC_REASON ? 'panic' : 'died' };
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

/** Resolves true when `p` settles first, false after `ms` (the timer never outlives the race). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export abstract class MachineBase<Boot extends BootHandle> implements Machine {
  readonly spec: MachineSpec;
  protected readonly runId: string;
  protected readonly ports: PortAllocator;
  protected readonly abort = new AbortController();
  protected readonly listeners = new Listeners<MachineEvent>();
  protected readonly console: MachineConsole;
  /** Files created for this machine (overlay, provisioning…), removed by destroy() unless keepFiles. */
  protected readonly ownedFiles: string[] = [];
  /** The boot in progress, null between boots and after. */
  protected current: Boot | null = null;
  /** Host port forwarded to the guest's sshd; kept across reboots because the harness holds it. */
  protected port: number | null = null;
  /** What the harness asked for, so that the end of a boot can be told from a crash. */
  protected intent: MachineIntent = 'none';
  protected state: MachineState = 'new';
  private destroyed: Promise<void> | null = null;
  /** A disk write error already stopped this machine (see diskWriteStopped). */
  private diskStopSeen = false;
  /** Set while the next boot is being started after a guest reboot. */
  private restarting: Promise<void> | null = null;
  /** Resolved once bootEnded() ran for a boot: powerOff/kill wait on it. */
  private readonly ended = new WeakMap<Boot, Deferred>();

  /** The backend's name for one boot in messages: "QEMU", "libvirt domain bootpath-r1-m1". */
  protected abstract readonly bootNoun: string;

  constructor(spec: MachineSpec, opts: MachineBaseOptions) {
    if (!/^[a-z0-9-]+$/.test(spec.name)) throw new Error(`machine name ${JSON.stringify(spec.name)} must match [a-z0-9-]+`);
    if (!path.isAbsolute(spec.runDir)) throw new Error(`machine runDir must be absolute: ${spec.runDir}`);
    this.spec = spec;
    this.runId = sanitizeName(opts.runId ?? path.basename(path.dirname(spec.runDir)));
    this.ports = opts.ports ?? hostPorts;
    const consoleOpts: ConstructorParameters<typeof MachineConsole>[0] = {
      machineName: spec.name,
      runDir: spec.runDir,
      emit: (e) => this.emit(e),
      abort: this.abort,
      isOff: () => this.isOff(),
      isRunning: () => this.current !== null,
    };
    if (opts.consoleChecks) consoleOpts.checks = opts.consoleChecks;
    this.console = new MachineConsole(consoleOpts);
  }

  // -------------------------------------------------------------------------------------------
  // What a backend supplies

  /** Everything needed before the first boot: host checks, files (push them to ownedFiles), connections. */
  protected abstract prepare(): Promise<void>;
  /**
   * Start boot `n`, writing its console to `target.consoleLog` (start tailing it with
   * this.console.startBoot) and forwarding `target.hostPort`. Throws for failures other than a
   * taken port.
   */
  protected abstract launchBoot(n: number, target: LaunchTarget): Promise<LaunchResult<Boot>>;
  /** The boot is now current: watch for its end, which must call bootEnded() exactly once. */
  protected abstract watchBoot(boot: Boot): Promise<void>;
  /** Ask the guest to power off (ACPI). false: the request could not be made, stop it hard now. */
  protected abstract requestPowerOff(boot: Boot): Promise<boolean>;
  /** Hard reset of the running boot. */
  protected abstract resetBoot(boot: Boot): Promise<void>;
  /** Stop the boot now; resolves once it is gone (bootEnded then runs, if it has not already). */
  protected abstract stopBoot(boot: Boot): Promise<void>;
  /** After the first boot started (records for the orphan reaper, safety-net polls). */
  protected async started(): Promise<void> {}
  /** Release what the machine holds beyond its boots (pidfile, records, subscriptions). Once, from destroy. */
  protected abstract releaseMachine(): Promise<void>;

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`machine ${this.spec.name} was already started`);
    this.state = 'starting';
    try {
      await fs.mkdir(this.spec.runDir, { recursive: true, mode: 0o700 });
      await this.prepare();
      await this.launch(1);
      await this.started();
      this.state = 'running';
    } catch (err) {
      await this.destroy({ keepFiles: true }).catch(() => undefined);
      if (err instanceof HostNotCapableError || err instanceof InfraError) throw err;
      throw new InfraError(`machine ${this.spec.name} could not start: ${errorMessage(err)}`, 'machine-start');
    }
  }

  /** Launch boot `n`; retries with a new port when the forward cannot bind. */
  private async launch(n: number): Promise<void> {
    const consoleLog = MachineConsole.fileFor(this.spec.runDir, n);
    const wantsPort = this.spec.sshGuestPort !== null;
    let lastError = '';
    // A taken port stays held until this launch ends, so the random pick cannot choose it again.
    const taken: number[] = [];
    try {
      for (let attempt = 1; attempt <= MAX_PORT_ATTEMPTS; attempt++) {
        // Keep the machine's port across restarts (the harness may hold it); a new one only if taken.
        if (wantsPort && this.port === null) this.port = this.ports.acquire();
        await fs.rm(consoleLog, { force: true });
        const res = await this.launchBoot(n, { consoleLog, hostPort: wantsPort ? this.port : null });
        if (res.kind === 'port-taken') {
          if (this.port === null) throw new InfraError(`${this.bootNoun} for machine ${this.spec.name} reported a taken port without a forward`, 'machine-start');
          lastError = `port ${this.port} was taken`;
          taken.push(this.port);
          this.port = null;
          continue;
        }
        const boot = res.boot;
        this.ended.set(boot, deferred());
        this.current = boot;
        await this.watchBoot(boot);
        this.emit({ type: 'boot', boot: n, consoleLog });
        return;
      }
      throw new InfraError(
        `${this.bootNoun} for machine ${this.spec.name} could not bind a forwarding port after ${MAX_PORT_ATTEMPTS} attempts (last: ${lastError})`,
        'machine-start',
      );
    } finally {
      for (const port of taken) this.ports.release(port);
    }
  }

  /** A boot is gone: the backend calls this once per boot, with what it saw. */
  protected async bootEnded(boot: Boot, end: BootEnd): Promise<void> {
    await boot.tail.stop();
    if (this.current === boot) this.current = null;
    this.ended.get(boot)?.resolve();
    const decision = decideBootEnd({
      intent: this.intent,
      destroyed: this.state === 'destroyed',
      reason: end.reason,
      restartOnGuestReset: this.spec.restartOnGuestReset ?? true,
    });
    switch (decision.kind) {
      case 'stopped-by-harness':
        if (this.state !== 'destroyed') this.state = 'off';
        this.console.wake();
        return;
      case 'restart':
        this.emit({ type: 'guest-reset', boot: boot.n });
        this.restarting = this.launch(boot.n + 1).catch((err: unknown) => {
          const message = `machine ${this.spec.name} died: could not start ${this.bootNoun} again after the guest rebooted: ${errorMessage(err)}`;
          this.state = 'off';
          this.emit({ type: 'died', boot: boot.n, message });
          this.console.fail('died', message);
        });
        await this.restarting;
        this.restarting = null;
        this.console.wake();
        return;
      case 'powered-off':
        this.state = 'off';
        this.emit({ type: 'guest-shutdown', boot: boot.n });
        this.console.wake(); // wake waiters: no more console will come
        return;
      case 'died': {
        this.state = 'off';
        const diagnostics = await end.diagnostics().catch(() => '');
        const message =
          `machine ${this.spec.name} died: ${end.how}` +
          (end.reason ? ` after SHUTDOWN reason ${end.reason}` : ' without a shutdown request') +
          (diagnostics ? `; ${diagnostics}` : '') +
          `; last console lines:\n${boot.tail.tail(15)}`;
        this.emit({ type: 'died', boot: boot.n, message });
        this.console.fail(decision.failure, message);
        this.console.wake();
        return;
      }
    }
  }

  /**
   * The hypervisor stopped the guest on a disk write error (QEMU's default werror=enospc policy: a
   * write the host cannot store pauses the guest instead of failing inside it). The guest is alive
   * but frozen, so nothing on SSH will ever answer again: fail at once and name the cause, with the
   * free space of the filesystem the machine's disks live on.
   */
  protected async diskWriteStopped(boot: Boot, e: { nospace: boolean | null; device: string; reason: string }): Promise<void> {
    // QEMU reports every failed request; the first one decides.
    if (this.current !== boot || this.abort.signal.aborted || this.diskStopSeen) return;
    this.diskStopSeen = true;
    const dir = this.spec.diskDir ?? this.spec.runDir;
    const space = await fs.statfs(dir).then(
      (st) => `${formatBytes(st.bavail * st.bsize)} free of ${formatBytes(st.blocks * st.bsize)}`,
      () => 'free space unknown',
    );
    const cause =
      e.nospace === true ? `no space left on the host filesystem (${space})`
      : e.nospace === false ? `a host I/O error (${e.reason}; ${space})`
      : `an I/O error the hypervisor did not classify (${e.reason}; ${space})`;
    const message =
      `machine ${this.spec.name} stopped: ${this.bootNoun} paused the guest because a write to its disk ${e.device} failed with ${cause}; ` +
      `the disks live in ${dir}. Free space there, or put machine disks on another filesystem with --work-dir DIR`;
    this.emit({ type: 'died', boot: boot.n, message });
    this.console.fail(e.nospace === true ? 'disk-full' : 'died', message);
  }

  /** Off for good (not between two boots of a reboot): console waits fail then. */
  protected isOff(): boolean {
    return (this.state === 'off' || this.state === 'destroyed') && !this.current && !this.restarting;
  }

  /** Wait for a restart after a guest reboot to finish before acting on the machine. */
  protected async settleRestart(): Promise<void> {
    if (this.restarting) await this.restarting;
  }

  /** Resolves once bootEnded() ran for `boot`. */
  protected endOf(boot: Boot): Promise<void> {
    return this.ended.get(boot)?.promise ?? Promise.resolve();
  }

  async powerOff(timeoutMs = 60_000): Promise<void> {
    await this.settleRestart();
    const boot = this.current;
    if (!boot) return;
    this.intent = 'power-off';
    const asked = await this.requestPowerOff(boot).catch(() => false);
    if (!asked || !(await settlesWithin(this.endOf(boot), timeoutMs))) await this.stopBoot(boot);
    await this.endOf(boot);
  }

  async reset(): Promise<void> {
    await this.settleRestart();
    const boot = this.current;
    if (!boot) throw new InfraError(`machine ${this.spec.name} is not running; cannot reset it`, 'machine-died');
    await this.resetBoot(boot);
  }

  async kill(): Promise<void> {
    await this.settleRestart();
    const boot = this.current;
    if (!boot) return;
    this.intent = 'kill';
    await this.stopBoot(boot);
    await this.endOf(boot);
  }

  /** Idempotent: every caller (teardown, signal handler, a failed start) waits for the same end. */
  destroy(opts: { keepFiles?: boolean } = {}): Promise<void> {
    this.destroyed ??= this.destroyOnce(opts);
    return this.destroyed;
  }

  private async destroyOnce(opts: { keepFiles?: boolean }): Promise<void> {
    this.intent = 'destroy';
    await this.settleRestart().catch(() => undefined);
    const boot = this.current;
    this.state = 'destroyed';
    if (boot) {
      // A stop that failed leaves the boot running: nothing will end it, so do not wait for that.
      const stopped = await this.stopBoot(boot).then(
        () => true,
        () => false,
      );
      if (stopped) await this.endOf(boot);
    }
    await this.releaseMachine().catch(() => undefined);
    await this.console.stopAll();
    if (this.port !== null) this.ports.release(this.port);
    if (!opts.keepFiles) {
      for (const f of this.ownedFiles) await fs.rm(f, { force: true });
    }
    this.console.clearWaiters();
  }

  // -------------------------------------------------------------------------------------------
  // Machine accessors

  /** Whether a boot is running now. */
  get running(): boolean {
    return this.current !== null;
  }

  get sshEndpoint(): SshEndpoint | null {
    return this.port === null ? null : { host: '127.0.0.1', port: this.port };
  }

  get bootCount(): number {
    return this.console.bootCount;
  }

  get consoleLog(): string {
    return this.console.consoleLog;
  }

  get failureSignal(): AbortSignal {
    return this.abort.signal;
  }

  consoleTail(lines = 40): string {
    return this.console.tail(lines);
  }

  /** Console text of boots `from`..current, cleaned. */
  consoleText(fromBoot = 1): string {
    return this.console.text(fromBoot);
  }

  waitForConsole(re: RegExp, opts: { timeoutMs: number; sinceBoot?: number; signal?: AbortSignal }): Promise<RegExpMatchArray> {
    return this.console.waitFor(re, opts);
  }

  on(listener: (event: MachineEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  protected emit(event: MachineEvent): void {
    this.listeners.emit(event);
  }
}
