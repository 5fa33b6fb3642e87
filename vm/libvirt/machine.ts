import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { HostNotCapableError, InfraError, errorMessage } from '../../core/errors.js';
import { stateDir as defaultStateDir } from '../../core/paths.js';
import type { ConsoleCheck } from '../console-checks.js';
import type { ConsoleTail } from '../console.js';
import { MachineBase } from '../machine-base.js';
import { MachineConsole } from '../machine-console.js';
import { prepareMachineFiles, type MachineFiles } from '../machine-files.js';
import type { Machine, MachineSpec } from '../machine.js';
import { isHostfwdBindFailure, MAX_PORT_ATTEMPTS, type PortAllocator } from '../ports.js';
import { processCmdline, processStartTime } from '../proc.js';
import { registerLiveProcess } from '../reaper.js';
import { buildDomainXml, domainName, type DomainDefinition, type DomainOwner } from './domain-xml.js';
import { DomainEventHub, type LibvirtDomainEvent } from './events.js';
import { removeDomainRecord, writeDomainRecord } from './records.js';
import { checkConnection, describeFailure, isNoDomainError, isSystemUri, libvirtUri, requireVirsh, Virsh } from './virsh.js';

/**
 * A Machine run as a transient libvirt domain through virsh. Transient (`virsh create`, never
 * `define`): a domain that stops is gone, and nothing is left defined if libvirtd restarts.
 *
 * One domain per boot, like the QEMU backend's one process per boot: `<on_reboot>destroy</on_reboot>`
 * ends the domain when the guest resets, and the machine creates the next one on the same overlay
 * with a new console file (console-<n>.log) and the same forwarding port.
 *
 * State comes from libvirt's event streams (events.ts) with a `virsh domid` poll as a safety net:
 * QEMU's SHUTDOWN reason tells a guest reboot (restart) from a guest poweroff (off) from anything
 * else (died → failureSignal).
 */

export interface LibvirtMachineOptions {
  /** Groups machines of one run in domain names and metadata. Default: the run dir's parent name. */
  runId?: string;
  /** Connection URI. Default: BOOTPATH_LIBVIRT_URI, then qemu:///system. */
  uri?: string;
  virshBinary?: string;
  /** QEMU binary for `<emulator>`; default: libvirt's choice for the arch. */
  emulator?: string;
  consoleChecks?: readonly ConsoleCheck[];
  /** Where the domain records for `gc` go (default core/paths stateDir()). */
  stateDir?: string;
  machineType?: 'q35' | 'pc';
  ports?: PortAllocator;
  /** Deadline for `virsh create` (not for the guest to boot). */
  startTimeoutMs?: number;
  /** How often the domain's existence is polled as a safety net for missed events. */
  pollIntervalMs?: number;
  /**
   * The process recorded as the domain's owner (default: this process). The orphan reaper destroys
   * domains whose owner is gone; a supervising process, or a test of the reaper, may name another.
   */
  owner?: DomainOwner;
}

interface Boot {
  n: number;
  tail: ConsoleTail;
  /** libvirt's domain id while this boot runs (null if the domain was gone before we asked). */
  id: number | null;
  /** The first QEMU SHUTDOWN reason of this boot (later ones are libvirt killing the process). */
  shutdownReason: string | null;
  handled: boolean;
  stopped: Promise<void>;
  markStopped: () => void;
  unregister: () => void;
}

/** QEMU SHUTDOWN reasons after which the domain's end means "boot again". */
const RESET_REASONS = new Set(['guest-reset', 'host-qmp-system-reset']);
const DEFAULT_POLL_MS = 1000;
/** After a domain is gone, how long to wait for its SHUTDOWN reason (the two streams are not ordered). */
const REASON_GRACE_MS = 1500;

export class LibvirtMachine extends MachineBase<Boot> implements Machine {
  readonly uri: string;
  readonly domainName: string;
  private readonly opts: LibvirtMachineOptions;
  private readonly virsh: Virsh;
  private readonly owner: DomainOwner;
  private readonly stateDir: string;
  private files: MachineFiles | null = null;
  private readonly ownedFiles: string[] = [];
  private unsubscribe: (() => void) | null = null;
  private poller: NodeJS.Timeout | null = null;

  constructor(spec: MachineSpec, opts: LibvirtMachineOptions = {}) {
    super(spec, opts);
    this.opts = opts;
    this.uri = libvirtUri(opts.uri);
    this.domainName = domainName(this.runId, spec.name);
    this.virsh = new Virsh(this.uri, opts.virshBinary);
    this.stateDir = opts.stateDir ?? defaultStateDir();
    this.owner = opts.owner ?? { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 };
  }

  protected isOff(): boolean {
    return this.state !== 'new' && this.state !== 'starting' && !this.current && !this.restarting;
  }

  /** Whether a domain is currently running for this machine. */
  get running(): boolean {
    return this.current !== null;
  }

  // -------------------------------------------------------------------------------------------
  // start

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`machine ${this.spec.name} was already started`);
    this.state = 'starting';
    try {
      await requireVirsh();
      await checkConnection(this.virsh);
      if (await this.virsh.domainId(this.domainName)) {
        throw new InfraError(
          `a libvirt domain named ${this.domainName} already runs on ${this.uri}; another run with the same run id (${this.runId})? ` +
            `Stop it with: virsh -c ${this.uri} destroy ${this.domainName}`,
          'machine-start',
        );
      }
      this.files = await prepareMachineFiles(this.spec, this.ownedFiles);
      this.unsubscribe = await DomainEventHub.for(this.virsh).subscribe(this.domainName, (e) => this.onDomainEvent(e));
      await this.launch(1);
      await writeDomainRecord(this.stateDir, {
        uri: this.uri,
        domain: this.domainName,
        runId: this.runId,
        machine: this.spec.name,
        runDir: this.spec.runDir,
        ownerPid: this.owner.pid,
        ownerStartTime: this.owner.startTime,
      });
      this.poller = setInterval(() => void this.poll(), this.opts.pollIntervalMs ?? DEFAULT_POLL_MS).unref();
      this.state = 'running';
    } catch (err) {
      await this.destroy({ keepFiles: true }).catch(() => undefined);
      if (err instanceof HostNotCapableError || err instanceof InfraError) throw err;
      throw new InfraError(`machine ${this.spec.name} could not start: ${errorMessage(err)}`, 'machine-start');
    }
  }

  private domainDefinition(n: number, consoleLog: string): DomainDefinition {
    const f = this.files;
    if (!f) throw new Error('launch before start');
    const spec = this.spec;
    const d: DomainDefinition = {
      name: this.domainName,
      metadata: { runId: this.runId, machine: spec.name, runDir: spec.runDir, boot: n, owner: this.owner },
      accel: spec.accel,
      memoryMiB: spec.memoryMiB,
      cpus: spec.cpus,
      extraDisks: f.extraDisks,
      consoleLog,
      hostPort: spec.sshGuestPort === null ? null : this.port,
      guestPort: spec.sshGuestPort ?? 22,
      destroyOnReboot: spec.restartOnGuestReset ?? true,
    };
    if (this.opts.machineType) d.machineType = this.opts.machineType;
    if (this.opts.emulator) d.emulator = this.opts.emulator;
    if (f.overlay) d.overlay = f.overlay;
    if (f.seedIso) d.seedIso = f.seedIso;
    if (f.ignitionConfig) d.ignitionConfig = f.ignitionConfig;
    if (f.smbiosCredentialFiles) d.smbiosCredentialFiles = f.smbiosCredentialFiles;
    if (f.uefi) d.uefi = f.uefi;
    if (spec.directKernel) d.directKernel = spec.directKernel;
    // qemu:///system would run QEMU as libvirt-qemu and chown our files; run it as ourselves instead.
    if (isSystemUri(this.uri) && process.getuid && process.getgid) d.runAs = { uid: process.getuid(), gid: process.getgid() };
    return d;
  }

  /** Create the transient domain of boot `n`; retries with a new port when the forward cannot bind. */
  private async launch(n: number): Promise<void> {
    const consoleLog = MachineConsole.fileFor(this.spec.runDir, n);
    const xmlFile = path.join(this.spec.runDir, `domain-${n}.xml`);
    const wantsPort = this.spec.sshGuestPort !== null;
    let lastError = '';
    for (let attempt = 1; attempt <= MAX_PORT_ATTEMPTS; attempt++) {
      // Keep the machine's port across restarts (the harness may hold it); a new one only if taken.
      if (wantsPort && this.port === null) this.port = this.ports.acquire();
      await fs.writeFile(xmlFile, buildDomainXml(this.domainDefinition(n, consoleLog)), { mode: 0o600 });
      await fs.rm(consoleLog, { force: true });
      const res = await this.virsh.run(['create', xmlFile], this.opts.startTimeoutMs ?? 60_000);
      if (res.code !== 0) {
        if (wantsPort && this.port !== null && isHostfwdBindFailure(res.stderr)) {
          // Someone else holds the port: retry on another one.
          const taken = this.port;
          this.ports.release(taken);
          this.port = null;
          lastError = `port ${taken} was taken`;
          continue;
        }
        throw new InfraError(
          `libvirt could not start machine ${this.spec.name} (domain ${this.domainName} on ${this.uri}): ${describeFailure(res)} [domain XML: ${xmlFile}]`,
          'machine-start',
        );
      }
      let markStopped: () => void = () => undefined;
      const stopped = new Promise<void>((r) => (markStopped = r));
      const boot: Boot = {
        n,
        tail: this.console.startBoot(n, consoleLog),
        id: await this.virsh.domainId(this.domainName),
        shutdownReason: null,
        handled: false,
        stopped,
        markStopped,
        unregister: this.registerQemuProcess(),
      };
      this.current = boot;
      this.emit({ type: 'boot', boot: n, consoleLog });
      if (boot.id === null) void this.onDomainGone(boot, 'gone right after it started');
      return;
    }
    throw new InfraError(`libvirt machine ${this.spec.name} could not bind a forwarding port after ${MAX_PORT_ATTEMPTS} attempts (last: ${lastError})`, 'machine-start');
  }

  /**
   * Put the domain's QEMU in the process-wide registry, so Ctrl-C and process exit kill it
   * synchronously like a directly started QEMU (libvirt then drops the transient domain). Only
   * where libvirt's pidfile is readable (qemu:///system as root); elsewhere the reaper covers it.
   */
  private registerQemuProcess(): () => void {
    if (!isSystemUri(this.uri)) return () => undefined;
    try {
      // Synchronous on purpose: a tiny pidfile, read once per boot.
      const pid = Number(readFileSync(`/run/libvirt/qemu/${this.domainName}.pid`, 'utf8').trim());
      const cmdline = Number.isInteger(pid) && pid > 0 ? processCmdline(pid) : null;
      // Never register a pid we cannot prove is this domain's QEMU.
      if (!cmdline?.some((a) => a.includes(`guest=${this.domainName},`) || a === `guest=${this.domainName}`)) return () => undefined;
      return registerLiveProcess({ pid, pidfile: null, label: `${this.runId}/${this.spec.name} (libvirt ${this.domainName})` });
    } catch {
      return () => undefined;
    }
  }

  // -------------------------------------------------------------------------------------------
  // domain state

  private onDomainEvent(e: LibvirtDomainEvent): void {
    const boot = this.current;
    if (!boot || boot.handled) return;
    if (e.kind === 'qmp') {
      if (e.event === 'SHUTDOWN' && boot.shutdownReason === null) {
        const reason = e.data?.['reason'];
        boot.shutdownReason = typeof reason === 'string' ? reason : 'unknown';
      }
      return;
    }
    if (e.event === 'Stopped') void this.confirmStopped(boot, `${e.event} ${e.detail}`.trim());
  }

  private async poll(): Promise<void> {
    const boot = this.current;
    if (!boot || boot.handled) return;
    const id = await this.virsh.domainId(this.domainName).catch(() => 'error' as const);
    if (id === 'error' || boot.handled || this.current !== boot) return;
    if (id === null || (boot.id !== null && id !== boot.id)) await this.onDomainGone(boot, 'found gone by polling');
  }

  /** A Stopped event may be stale (an earlier boot's): believe it only if our domain is really gone. */
  private async confirmStopped(boot: Boot, detail: string): Promise<void> {
    const id = await this.virsh.domainId(this.domainName).catch(() => null);
    if (id !== null && (boot.id === null || id === boot.id)) return;
    await this.onDomainGone(boot, detail);
  }

  private async onDomainGone(boot: Boot, detail: string): Promise<void> {
    if (boot.handled) return;
    boot.handled = true;
    // The SHUTDOWN reason comes on the other stream; give it a moment if it is not here yet.
    const deadline = Date.now() + REASON_GRACE_MS;
    while (boot.shutdownReason === null && Date.now() < deadline && this.intent === 'none') await sleep(50);
    boot.unregister();
    await boot.tail.stop();
    if (this.current === boot) this.current = null;
    boot.markStopped();

    const reason = boot.shutdownReason;
    if (this.intent !== 'none' || this.state === 'destroyed') {
      if (this.state !== 'destroyed') this.state = 'off';
      this.console.wake();
      return;
    }
    if (reason && RESET_REASONS.has(reason) && (this.spec.restartOnGuestReset ?? true)) {
      this.emit({ type: 'guest-reset', boot: boot.n });
      this.restarting = this.launch(boot.n + 1).catch((err: unknown) => {
        const message = `machine ${this.spec.name} died: could not start libvirt domain ${this.domainName} again after the guest rebooted: ${errorMessage(err)}`;
        this.state = 'off';
        this.emit({ type: 'died', boot: boot.n, message });
        this.console.fail('died', message);
      });
      await this.restarting;
      this.restarting = null;
      return;
    }
    this.state = 'off';
    if (reason === 'guest-shutdown') {
      this.emit({ type: 'guest-shutdown', boot: boot.n });
      this.console.wake(); // wake waiters: no more console will come
      return;
    }
    const qemuLog = await this.qemuLogTail(5);
    const message =
      `machine ${this.spec.name} died: libvirt domain ${this.domainName} stopped (${detail})` +
      (reason ? ` after QEMU SHUTDOWN reason ${reason}` : ' without a shutdown request') +
      (qemuLog ? `; libvirt's QEMU log ends with:\n${qemuLog}` : '') +
      `\nlast console lines:\n${boot.tail.tail(15)}`;
    this.emit({ type: 'died', boot: boot.n, message });
    this.console.fail(reason === 'guest-panicked' ? 'panic' : 'died', message);
    this.console.wake();
  }

  /** libvirt's per-domain QEMU log (stderr, "terminating on signal…"), where it is readable. */
  private async qemuLogTail(lines: number): Promise<string> {
    if (!isSystemUri(this.uri)) return '';
    const text = await fs.readFile(`/var/log/libvirt/qemu/${this.domainName}.log`, 'utf8').catch(() => '');
    return text.trim().split('\n').slice(-lines).join('\n');
  }

  // -------------------------------------------------------------------------------------------
  // power

  /** ACPI power button (`virsh shutdown --mode acpi`); `virsh destroy` after timeoutMs. */
  async powerOff(timeoutMs = 60_000): Promise<void> {
    await this.settleRestart();
    const boot = this.current;
    if (!boot) return;
    this.intent = 'power-off';
    const res = await this.virsh.run(['shutdown', '--mode', 'acpi', this.domainName], 30_000);
    if (res.code !== 0 && !isNoDomainError(res.stderr)) {
      await this.hardStop(boot);
      return;
    }
    const off = await settlesWithin(boot.stopped, timeoutMs);
    if (!off) await this.hardStop(boot);
  }

  /** Hard reset (`virsh reset`): like a guest reset, the next boot runs in a new domain. */
  async reset(): Promise<void> {
    await this.settleRestart();
    if (!this.current) throw new InfraError(`machine ${this.spec.name} is not running; cannot reset it`, 'machine-died');
    await this.virsh.checked(['reset', this.domainName], 30_000);
  }

  /** `virsh destroy` now (QEMU gets SIGTERM, then SIGKILL from libvirt). */
  async kill(): Promise<void> {
    await this.settleRestart();
    const boot = this.current;
    if (!boot) return;
    this.intent = 'kill';
    await this.hardStop(boot);
  }

  private async hardStop(boot: Boot): Promise<void> {
    const res = await this.virsh.run(['destroy', this.domainName], 60_000);
    if (res.code !== 0 && !isNoDomainError(res.stderr) && (await this.virsh.domainId(this.domainName)) !== null) {
      throw new InfraError(`could not stop libvirt domain ${this.domainName} of machine ${this.spec.name}: ${describeFailure(res)}`, 'other');
    }
    // The domain is gone; do not wait for the event or the poller to notice.
    await this.onDomainGone(boot, 'destroyed by bootpath');
    await boot.stopped;
  }

  protected async doDestroy(opts: { keepFiles?: boolean }): Promise<void> {
    this.intent = 'destroy';
    await this.settleRestart().catch(() => undefined);
    const boot = this.current;
    this.state = 'destroyed';
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
    if (boot) await this.hardStop(boot).catch(() => undefined);
    // A domain of ours may also exist without a boot record (start failed between create and
    // bookkeeping): destroy by name only when its metadata names this run dir.
    if (this.state === 'destroyed' && (await this.virsh.domainId(this.domainName).catch(() => null)) !== null) {
      const meta = await this.virsh.run(['dumpxml', this.domainName], 15_000);
      if (meta.code === 0 && meta.stdout.includes(this.spec.runDir)) await this.virsh.run(['destroy', this.domainName], 60_000);
    }
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.console.stopAll();
    if (this.port !== null) this.ports.release(this.port);
    await removeDomainRecord(this.stateDir, this.domainName);
    if (!opts.keepFiles) {
      for (const f of this.ownedFiles) await fs.rm(f, { force: true });
    }
    this.console.clearWaiters();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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
