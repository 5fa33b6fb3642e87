/**
 * What every backend's Machine shares: the spec checks, the run id that groups a run's machines,
 * the forwarded SSH port, the event listeners, the failure signal and the per-boot console. A
 * backend (QEMU process per boot, libvirt domain per boot) adds how a boot is started, watched and
 * ended; the state fields live here so that both keep the same lifecycle vocabulary.
 */
import path from 'node:path';
import type { ConsoleCheck } from './console-checks.js';
import { Listeners } from './listeners.js';
import { MachineConsole } from './machine-console.js';
import type { MachineEvent, MachineSpec, SshEndpoint } from './machine.js';
import { hostPorts, type PortAllocator } from './ports.js';
import { sanitizeName } from './qemu/command.js';

export type MachineIntent = 'none' | 'power-off' | 'kill' | 'destroy';
export type MachineState = 'new' | 'starting' | 'running' | 'off' | 'destroyed';

export interface MachineBaseOptions {
  /** Groups machines of one run (pidfiles, process titles, domain names). Default: the run dir's parent name. */
  runId?: string;
  ports?: PortAllocator;
  consoleChecks?: readonly ConsoleCheck[];
}

export abstract class MachineBase<Boot> {
  readonly spec: MachineSpec;
  protected readonly runId: string;
  protected readonly ports: PortAllocator;
  protected readonly abort = new AbortController();
  protected readonly listeners = new Listeners<MachineEvent>();
  protected readonly console: MachineConsole;
  /** The boot in progress (one QEMU process or one libvirt domain), null between boots and after. */
  protected current: Boot | null = null;
  /** Host port forwarded to the guest's sshd; kept across reboots because the harness holds it. */
  protected port: number | null = null;
  /** What the harness asked for, so that the end of a boot can be told from a crash. */
  protected intent: MachineIntent = 'none';
  protected state: MachineState = 'new';
  protected destroyed: Promise<void> | null = null;
  /** Set while the next boot is being started after a guest reboot. */
  protected restarting: Promise<void> | null = null;

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

  /** Off for good (not between two boots of a reboot): console checks stop reporting then. */
  protected abstract isOff(): boolean;

  /** Stop the current boot for good and release what the machine holds (once; see destroy). */
  protected abstract doDestroy(opts: { keepFiles?: boolean }): Promise<void>;

  /** Idempotent: every caller (teardown, signal handler, a failed start) waits for the same end. */
  destroy(opts: { keepFiles?: boolean } = {}): Promise<void> {
    this.destroyed ??= this.doDestroy(opts);
    return this.destroyed;
  }

  /** Wait for a restart after a guest reboot to finish before acting on the machine. */
  protected async settleRestart(): Promise<void> {
    if (this.restarting) await this.restarting;
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
