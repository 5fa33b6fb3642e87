import type { Machine, MachineSpec } from './machine.js';
import { LibvirtMachine } from './libvirt/machine.js';
import { QemuMachine, type QemuMachineOptions } from './qemu/machine.js';

/**
 * The one place the harness gets machines from. Backend 'qemu' runs QEMU directly; 'libvirt' runs
 * each boot as a transient libvirt domain through virsh (vm/libvirt/).
 */
export type BackendName = 'qemu' | 'libvirt';

export interface CreateMachineOptions extends QemuMachineOptions {
  backend?: BackendName;
  /** libvirt connection URI (backend 'libvirt'). Default: BOOTPATH_LIBVIRT_URI, then qemu:///system. */
  libvirtUri?: string;
}

export function createMachine(spec: MachineSpec, opts: CreateMachineOptions = {}): Machine {
  const backend = opts.backend ?? 'qemu';
  switch (backend) {
    case 'qemu':
      return new QemuMachine(spec, opts);
    case 'libvirt': {
      // The options both backends understand; QEMU-only ones (pdeathsig, QMP) do not apply.
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
    }
    default:
      throw new Error(`unknown VM backend ${String(backend)}`);
  }
}
