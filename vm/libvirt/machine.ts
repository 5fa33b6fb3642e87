import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { InfraError } from '../../core/errors.js';
import { stateDir as defaultStateDir } from '../../core/paths.js';
import type { ConsoleCheck } from '../console-checks.js';
import type { ConsoleTail } from '../console.js';
import { MachineBase, type LaunchResult, type LaunchTarget } from '../machine-base.js';
import { prepareMachineFiles, type MachineFiles } from '../machine-files.js';
import type { MachineSpec } from '../machine.js';
import { isHostfwdBindFailure, type PortAllocator } from '../ports.js';
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
  unregister: () => void;
}

const DEFAULT_POLL_MS = 1000;
/** After a domain is gone, how long to wait for its SHUTDOWN reason (the two streams are not ordered). */
const REASON_GRACE_MS = 1500;

export class LibvirtMachine extends MachineBase<Boot> {
  readonly uri: string;
  readonly domainName: string;
  protected readonly bootNoun: string;
  private readonly opts: LibvirtMachineOptions;
  private readonly virsh: Virsh;
  private readonly owner: DomainOwner;
  private readonly stateDir: string;
  private files: MachineFiles | null = null;
  private unsubscribe: (() => void) | null = null;
  private poller: NodeJS.Timeout | null = null;

  constructor(spec: MachineSpec, opts: LibvirtMachineOptions = {}) {
    super(spec, opts);
    this.opts = opts;
    this.uri = libvirtUri(opts.uri);
    this.domainName = domainName(this.runId, spec.name);
    this.bootNoun = `libvirt domain ${this.domainName}`;
    this.virsh = new Virsh(this.uri, opts.virshBinary);
    this.stateDir = opts.stateDir ?? defaultStateDir();
    this.owner = opts.owner ?? { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 };
  }

  // -------------------------------------------------------------------------------------------
  // boots

  protected async prepare(): Promise<void> {
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
  }

  protected override async started(): Promise<void> {
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
  }

  private domainDefinition(n: number, target: LaunchTarget): DomainDefinition {
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
      consoleLog: target.consoleLog,
      hostPort: target.hostPort,
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

  /** Create the transient domain of boot `n`. */
  protected async launchBoot(n: number, target: LaunchTarget): Promise<LaunchResult<Boot>> {
    const xmlFile = path.join(this.spec.runDir, `domain-${n}.xml`);
    await fs.writeFile(xmlFile, buildDomainXml(this.domainDefinition(n, target)), { mode: 0o600 });
    const res = await this.virsh.run(['create', xmlFile], this.opts.startTimeoutMs ?? 60_000);
    if (res.code !== 0) {
      if (target.hostPort !== null && isHostfwdBindFailure(res.stderr)) return { kind: 'port-taken' };
      throw new InfraError(
        `libvirt could not start machine ${this.spec.name} (domain ${this.domainName} on ${this.uri}): ${describeFailure(res)} [domain XML: ${xmlFile}]`,
        'machine-start',
      );
    }
    const tail = this.console.startBoot(n, target.consoleLog);
    const boot: Boot = {
      n,
      tail,
      id: await this.virsh.domainId(this.domainName),
      shutdownReason: null,
      handled: false,
      unregister: this.registerQemuProcess(),
    };
    return { kind: 'started', boot };
  }

  protected async watchBoot(boot: Boot): Promise<void> {
    // Events and the poller watch the current boot; a domain already gone is handled now.
    if (boot.id === null) void this.onDomainGone(boot, 'gone right after it started');
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
    // libvirt's lifecycle event for QEMU's BLOCK_IO_ERROR with action stop; it does not say
    // whether it was ENOSPC, so the message carries the free space instead.
    if (e.event === 'Suspended' && /I\/O Error/i.test(e.detail)) void this.diskWriteStopped(boot, { nospace: null, device: 'vda', reason: `libvirt: Suspended ${e.detail}` });
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
    await this.bootEnded(boot, {
      reason: boot.shutdownReason,
      how: `libvirt domain ${this.domainName} stopped (${detail})`,
      diagnostics: async () => {
        const log = await this.qemuLogTail(5);
        return log ? `libvirt's QEMU log ends with:\n${log}` : '';
      },
    });
  }

  /** libvirt's per-domain QEMU log (stderr, "terminating on signal…"), where it is readable. */
  private async qemuLogTail(lines: number): Promise<string> {
    if (!isSystemUri(this.uri)) return '';
    const text = await fs.readFile(`/var/log/libvirt/qemu/${this.domainName}.log`, 'utf8').catch(() => '');
    return text.trim().split('\n').slice(-lines).join('\n');
  }

  // -------------------------------------------------------------------------------------------
  // power

  /** ACPI power button (`virsh shutdown --mode acpi`). */
  protected async requestPowerOff(): Promise<boolean> {
    const res = await this.virsh.run(['shutdown', '--mode', 'acpi', this.domainName], 30_000);
    return res.code === 0 || isNoDomainError(res.stderr);
  }

  /** Hard reset (`virsh reset`): like a guest reset, the next boot runs in a new domain. */
  protected async resetBoot(): Promise<void> {
    await this.virsh.checked(['reset', this.domainName], 30_000);
  }

  /** `virsh destroy` now (QEMU gets SIGTERM, then SIGKILL from libvirt). */
  protected async stopBoot(boot: Boot): Promise<void> {
    const res = await this.virsh.run(['destroy', this.domainName], 60_000);
    if (res.code !== 0 && !isNoDomainError(res.stderr) && (await this.virsh.domainId(this.domainName)) !== null) {
      throw new InfraError(`could not stop libvirt domain ${this.domainName} of machine ${this.spec.name}: ${describeFailure(res)}`, 'other');
    }
    // The domain is gone; do not wait for the event or the poller to notice.
    await this.onDomainGone(boot, 'destroyed by bootpath');
  }

  protected async releaseMachine(): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
    // A domain of ours may also exist without a boot record (start failed between create and
    // bookkeeping): destroy by name only when its metadata names this run dir.
    if ((await this.virsh.domainId(this.domainName).catch(() => null)) !== null) {
      const meta = await this.virsh.run(['dumpxml', this.domainName], 15_000);
      if (meta.code === 0 && meta.stdout.includes(this.spec.runDir)) await this.virsh.run(['destroy', this.domainName], 60_000);
    }
    this.unsubscribe?.();
    this.unsubscribe = null;
    await removeDomainRecord(this.stateDir, this.domainName);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
