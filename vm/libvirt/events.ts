import { spawn, type ChildProcess } from 'node:child_process';
import { whichBinary } from '../exec.js';
import { LineDecoder } from '../qmp.js';
import { withParentDeathSignal } from '../parent-death.js';
import type { Virsh } from './virsh.js';

/**
 * Domain events from libvirt, through two long-running virsh processes per connection URI:
 *
 *   virsh event --loop --all                      lifecycle: "Stopped Shutdown", "Stopped Destroyed",
 *                                                 "Stopped Crashed", "Stopped Failed"…
 *   virsh qemu-monitor-event --loop --event SHUTDOWN   QEMU's own SHUTDOWN reason: guest-reset vs
 *                                                 guest-shutdown vs host-signal. libvirt's lifecycle
 *                                                 event says "Shutdown Finished after guest request"
 *                                                 for both a guest reboot and a guest poweroff, so the
 *                                                 QMP reason is what tells them apart.
 *
 * Both streams are shared by every machine of this process on that URI (one pair of processes, not
 * two per machine) and stop when the last subscriber leaves. They run under setpriv --pdeathsig so
 * a SIGKILLed bootpath does not leave virsh loops behind.
 */

export type LibvirtDomainEvent =
  | { kind: 'lifecycle'; domain: string; event: string; detail: string }
  | { kind: 'qmp'; domain: string; event: string; data: Record<string, unknown> | null };

/** `event 'lifecycle' for domain 'NAME': Stopped Shutdown` (an optional timestamp prefix is allowed). */
export function parseLifecycleLine(line: string): (LibvirtDomainEvent & { kind: 'lifecycle' }) | null {
  const m = /event 'lifecycle' for domain '(.+)': (\S+)(?: (.*))?$/.exec(line.trim());
  if (!m?.[1] || !m[2]) return null;
  return { kind: 'lifecycle', domain: m[1], event: m[2], detail: (m[3] ?? '').trim() };
}

/**
 * `event SHUTDOWN at 1795714447.117136 for domain 'NAME': {"guest":true,"reason":"guest-reset"}`
 * (QEMU's own timestamp; with virsh --timestamp a date prefix instead).
 */
export function parseMonitorEventLine(line: string): (LibvirtDomainEvent & { kind: 'qmp' }) | null {
  const m = /event ([A-Z_]+)(?: at [\d.]+)? for domain '(.+)': (.*)$/.exec(line.trim());
  if (!m?.[1] || !m[2]) return null;
  let data: Record<string, unknown> | null = null;
  const raw = (m[3] ?? '').trim();
  if (raw.startsWith('{')) {
    try {
      data = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      data = null;
    }
  }
  return { kind: 'qmp', domain: m[2], event: m[1], data };
}

/** How long a freshly spawned virsh takes to register its callbacks (it connects in ~20 ms locally). */
const REGISTER_GRACE_MS = 300;
const MAX_RESPAWNS = 5;

type Listener = (e: LibvirtDomainEvent) => void;

export class DomainEventHub {
  private static readonly hubs = new Map<string, DomainEventHub>();

  /** The shared hub of one connection URI. */
  static for(virsh: Virsh): DomainEventHub {
    let hub = DomainEventHub.hubs.get(virsh.uri);
    if (!hub) {
      hub = new DomainEventHub(virsh);
      DomainEventHub.hubs.set(virsh.uri, hub);
    }
    return hub;
  }

  private readonly listeners = new Map<string, Set<Listener>>();
  private children: ChildProcess[] = [];
  private starting: Promise<void> | null = null;
  private respawns = 0;

  private constructor(private readonly virsh: Virsh) {}

  /** Events of domain `name` go to `listener` until the returned function is called. */
  async subscribe(name: string, listener: Listener): Promise<() => void> {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener);
    await this.ensureRunning();
    return () => {
      const s = this.listeners.get(name);
      s?.delete(listener);
      if (s && s.size === 0) this.listeners.delete(name);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Whether both event streams are running now (the machine polls as a safety net when not). */
  get healthy(): boolean {
    return this.children.length === 2 && this.children.every((c) => c.exitCode === null && c.signalCode === null);
  }

  private ensureRunning(): Promise<void> {
    if (this.children.length > 0) return this.starting ?? Promise.resolve();
    this.starting = this.spawnStreams();
    return this.starting;
  }

  private async spawnStreams(): Promise<void> {
    const setpriv = await whichBinary('setpriv');
    const spawnOne = (args: string[], parse: (line: string) => LibvirtDomainEvent | null): ChildProcess => {
      const cmd = withParentDeathSignal(setpriv, this.virsh.binary, this.virsh.args(args));
      const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'ignore'] });
      const decoder = new LineDecoder();
      child.stdout?.on('data', (d: Buffer) => {
        for (const line of decoder.push(d.toString('utf8'))) {
          const e = parse(line);
          if (e) this.dispatch(e);
        }
      });
      child.on('error', () => undefined);
      child.once('exit', () => this.onStreamExit(child));
      // Never keep the Node process alive just for the event streams.
      child.unref();
      (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
      return child;
    };
    this.children = [
      spawnOne(['event', '--loop', '--all'], parseLifecycleLine),
      spawnOne(['qemu-monitor-event', '--loop', '--event', 'SHUTDOWN'], parseMonitorEventLine),
    ];
    await new Promise((r) => setTimeout(r, REGISTER_GRACE_MS));
    this.starting = null;
  }

  private onStreamExit(child: ChildProcess): void {
    if (!this.children.includes(child)) return; // stopped on purpose
    // A stream died under us (libvirtd restarted?): start both again while someone listens.
    this.stop();
    if (this.listeners.size > 0 && this.respawns < MAX_RESPAWNS) {
      this.respawns++;
      void this.ensureRunning();
    }
  }

  private dispatch(e: LibvirtDomainEvent): void {
    for (const l of this.listeners.get(e.domain) ?? []) {
      try {
        l(e);
      } catch {
        // a listener's bug must not stop the stream
      }
    }
  }

  private stop(): void {
    const children = this.children;
    this.children = [];
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
