import { HostNotCapableError } from '../core/errors.js';
import type { Machine, MachineSpec } from './machine.js';
import { QemuMachine, type QemuMachineOptions } from './qemu/machine.js';

/**
 * The one place the harness gets machines from. Backend 'qemu' runs QEMU directly; a libvirt
 * backend can be added here later without the harness changing.
 */
export type BackendName = 'qemu' | 'libvirt';

export interface CreateMachineOptions extends QemuMachineOptions {
  backend?: BackendName;
}

export function createMachine(spec: MachineSpec, opts: CreateMachineOptions = {}): Machine {
  const backend = opts.backend ?? 'qemu';
  switch (backend) {
    case 'qemu':
      return new QemuMachine(spec, opts);
    case 'libvirt':
      throw new HostNotCapableError('the libvirt backend is not implemented yet', 'use --backend qemu (the default)');
    default:
      throw new Error(`unknown VM backend ${String(backend)}`);
  }
}
