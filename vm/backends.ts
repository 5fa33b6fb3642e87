/**
 * The machine backends, one line each. Everything that differs per backend outside its own folder
 * is here: how it is named on the command line, how it makes a Machine, how its orphans are
 * reaped after a crashed run, what the host must have, and whether it runs a local QEMU itself.
 * The CLI, doctor, gc and the runner read this table; none of them names a backend.
 */
import { whichBinary } from './exec.js';
import { QEMU_BINARY, requireQemu, requireQemuImg, type HostFacts } from './host-facts.js';
import { LibvirtMachine } from './libvirt/machine.js';
import { reapLibvirtOrphans } from './libvirt/reaper.js';
import { requireVirsh } from './libvirt/virsh.js';
import type { Machine, MachineSpec } from './machine.js';
import { QemuMachine, type QemuMachineOptions } from './qemu/machine.js';
import { reapOrphans as reapQemuPidfiles } from './reaper.js';

/** Options a backend may use; each ignores the ones that do not apply to it. */
export interface CreateMachineOptions extends QemuMachineOptions {
  /** libvirt connection URI. Default: BOOTPATH_LIBVIRT_URI, then qemu:///system. */
  libvirtUri?: string;
}

/** What one backend's orphan reaper did, in lines a person reads; `report` is the backend's own record (for --json). */
export interface OrphanReap {
  reaped: string[];
  removed: string[];
  skipped: string[];
  report: object;
}

export interface MachineBackend {
  /** One line for --help and doctor. */
  summary: string;
  create(spec: MachineSpec, opts: CreateMachineOptions): Machine;
  /** Stop what a crashed run of this backend left running (never another live run's machines). */
  reapOrphans(opts: { stateDir?: string }): Promise<OrphanReap>;
  /** Host facts (vm/host-facts.ts) without which this backend cannot run a machine. */
  requiredFacts: readonly (keyof HostFacts)[];
  /** Throws HostNotCapableError with the remedy when the host cannot run this backend; returns the local QEMU, if any. */
  requireHost(): Promise<{ qemu: string | null }>;
  /** Whether bootpath itself starts qemu-system on this host (else the backend's service does). */
  needsLocalQemu: boolean;
}

const qemu: MachineBackend = {
  summary: 'QEMU started directly, one process per boot',
  create: (spec, opts) => new QemuMachine(spec, opts),
  reapOrphans: async (opts) => {
    const r = await reapQemuPidfiles(opts);
    return {
      reaped: r.killed.map((k) => `killed orphaned QEMU pid ${k.pid} (${k.runDir})`),
      removed: r.removedStale.map((s) => `removed stale pidfile ${s.pidfile}: ${s.reason}`),
      skipped: r.skipped.map((s) => `left ${s.pidfile}: ${s.reason}`),
      report: r,
    };
  },
  requiredFacts: ['qemu', 'qemuImg'],
  requireHost: async () => ({ qemu: (await requireQemu()).qemu }),
  needsLocalQemu: true,
};

const libvirt: MachineBackend = {
  summary: 'transient libvirt domains through virsh, one domain per boot',
  create: (spec, opts) => {
    // The options both backends understand; QEMU-only ones (pdeathsig, QMP, binary) do not apply.
    const { runId, consoleChecks, stateDir, machineType, ports, startTimeoutMs, libvirtUri } = opts;
    return new LibvirtMachine(spec, {
      ...(runId !== undefined ? { runId } : {}),
      ...(consoleChecks ? { consoleChecks } : {}),
      ...(stateDir !== undefined ? { stateDir } : {}),
      ...(machineType ? { machineType } : {}),
      ...(ports ? { ports } : {}),
      ...(startTimeoutMs !== undefined ? { startTimeoutMs } : {}),
      ...(libvirtUri !== undefined ? { uri: libvirtUri } : {}),
    });
  },
  reapOrphans: async (opts) => {
    const r = await reapLibvirtOrphans(opts);
    return {
      reaped: r.destroyed.map((d) => `destroyed orphaned libvirt domain ${d.domain} on ${d.uri} (${d.runDir})`),
      removed: [],
      skipped: r.skipped.map((s) => `left libvirt domain ${s.domain} on ${s.uri}: ${s.reason}`),
      report: r,
    };
  },
  requiredFacts: ['virsh', 'qemuImg'],
  requireHost: async () => {
    await requireVirsh();
    await requireQemuImg();
    return { qemu: await whichBinary(QEMU_BINARY) };
  },
  needsLocalQemu: false,
};

export const BACKENDS = { qemu, libvirt } as const satisfies Record<string, MachineBackend>;

export type BackendName = keyof typeof BACKENDS;
// Object.keys widens to string[]; the keys are exactly BACKENDS' (a const object literal).
export const BACKEND_NAMES = Object.keys(BACKENDS) as BackendName[];
export const DEFAULT_BACKEND: BackendName = 'qemu';

/** The one place the harness gets machines from. */
export function createMachine(spec: MachineSpec, opts: CreateMachineOptions & { backend?: BackendName } = {}): Machine {
  const { backend = DEFAULT_BACKEND, ...rest } = opts;
  return BACKENDS[backend].create(spec, rest);
}

/**
 * Every backend's reaper (what `gc` and the start of a run do). Each finds its own machines by its
 * own records, so a backend that was never used costs nothing.
 */
export async function reapAllOrphans(opts: { stateDir?: string } = {}): Promise<{ backend: BackendName; reap: OrphanReap }[]> {
  const out: { backend: BackendName; reap: OrphanReap }[] = [];
  for (const backend of BACKEND_NAMES) out.push({ backend, reap: await BACKENDS[backend].reapOrphans(opts) });
  return out;
}
