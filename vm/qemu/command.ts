import type { Accel, DirectKernelBoot } from '../machine.js';
import { sanitizeName } from '../names.js';
import { hostForwardRule } from '../ports.js';

/**
 * The QEMU command line, as an argv array (never a shell string). Pure: everything it needs is in
 * QemuLaunch, so unit tests can check every flag that matters.
 */

export interface QemuLaunch {
  qemuBinary: string;
  accel: Accel;
  machineType?: 'q35' | 'pc';
  runId: string;
  machineName: string;
  /** The machine's unique marker (vm/machine-identity.ts), appended to `-name` so gc can prove identity. */
  marker?: string;
  memoryMiB: number;
  cpus: number;
  /** The machine's qcow2 overlay (absent for diskless direct-kernel guests). */
  overlay?: string;
  extraDisks?: string[];
  /** Serial console (ttyS0) goes to this file. */
  consoleLog: string;
  /** QMP over an inherited, already connected socket (fd number in QEMU), or a unix socket path QEMU listens on. */
  qmp: { fd: number } | { socketPath: string };
  /** Host port forwarded from 127.0.0.1 to guestPort; null → user networking without forwards. */
  hostPort: number | null;
  guestPort?: number;
  /** Guest reset makes QEMU exit (the machine then starts a fresh QEMU on the same overlay). */
  noReboot: boolean;
  ignitionConfig?: string;
  seedIso?: string;
  /** Files each holding one SMBIOS type 11 string (systemd credentials). */
  smbiosCredentialFiles?: string[];
  uefi?: { code: string; vars: string };
  directKernel?: DirectKernelBoot;
}

/** QEMU option values use ',' as separator; a literal comma is written ',,'. */
export function qemuOptValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/** `-name` value: bootpath-<run>-<machine>; `process=` (the thread name) is cut to 15 chars by the kernel. */
function qemuProcessName(runId: string, machineName: string): string {
  return `bootpath-${sanitizeName(runId)}-${sanitizeName(machineName)}`;
}

/**
 * systemd credentials as SMBIOS type 11 OEM strings. `path=` (not `value=`): QEMU reads the string
 * from the 0600 file, so credentials that carry a host private key stay off the command line,
 * which every local user can read in /proc and libvirt copies into its domain log.
 */
export function smbiosCredentialArgs(files: readonly string[]): string[] {
  return files.flatMap((f) => ['-smbios', `type=11,path=${qemuOptValue(f)}`]);
}

export function buildQemuArgs(l: QemuLaunch): string[] {
  const args: string[] = [];
  const name = l.marker !== undefined ? `${qemuProcessName(l.runId, l.machineName)}-${l.marker}` : qemuProcessName(l.runId, l.machineName);
  args.push('-name', `${name},process=bootpath-${sanitizeName(l.machineName)}`);
  args.push('-machine', l.machineType ?? 'q35');
  args.push('-accel', l.accel);
  // -cpu host needs KVM; under TCG, max gives the guest every feature TCG can emulate.
  args.push('-cpu', l.accel === 'kvm' ? 'host' : 'max');
  args.push('-smp', String(l.cpus), '-m', String(l.memoryMiB));
  args.push('-nodefaults', '-display', 'none', '-vga', 'none');
  if (l.noReboot) args.push('-no-reboot');

  if (l.uefi) {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${qemuOptValue(l.uefi.code)}`);
    args.push('-drive', `if=pflash,format=raw,unit=1,file=${qemuOptValue(l.uefi.vars)}`);
  }
  if (l.directKernel) {
    args.push('-kernel', l.directKernel.kernel);
    if (l.directKernel.initrd) args.push('-initrd', l.directKernel.initrd);
    if (l.directKernel.append) args.push('-append', l.directKernel.append);
  }

  if (l.overlay) {
    args.push('-drive', `if=none,id=disk0,format=qcow2,discard=unmap,file=${qemuOptValue(l.overlay)}`);
    args.push('-device', 'virtio-blk-pci,drive=disk0,bootindex=1');
  }
  (l.extraDisks ?? []).forEach((disk, i) => {
    args.push('-drive', `if=none,id=disk${i + 1},format=qcow2,discard=unmap,file=${qemuOptValue(disk)}`);
    args.push('-device', `virtio-blk-pci,drive=disk${i + 1},serial=bootpath-extra-${i + 1}`);
  });
  if (l.seedIso) {
    args.push('-drive', `if=none,id=seed,format=raw,media=cdrom,readonly=on,file=${qemuOptValue(l.seedIso)}`);
    args.push('-device', 'ide-cd,drive=seed');
  }
  if (l.ignitionConfig) args.push('-fw_cfg', `name=opt/com.coreos/config,file=${qemuOptValue(l.ignitionConfig)}`);
  args.push(...smbiosCredentialArgs(l.smbiosCredentialFiles ?? []));

  const netdev = l.hostPort === null ? 'user,id=n0' : `user,id=n0,${hostForwardRule(l.hostPort, l.guestPort ?? 22)}`;
  args.push('-netdev', netdev, '-device', 'virtio-net-pci,netdev=n0');
  // Entropy for the guest: first boots generate keys and would otherwise stall under TCG.
  args.push('-device', 'virtio-rng-pci');

  args.push('-chardev', `file,id=serial0,path=${qemuOptValue(l.consoleLog)}`, '-serial', 'chardev:serial0');
  if ('fd' in l.qmp) args.push('-chardev', `socket,id=qmp,fd=${l.qmp.fd}`);
  else args.push('-chardev', `socket,id=qmp,path=${qemuOptValue(l.qmp.socketPath)},server=on,wait=off`);
  args.push('-mon', 'chardev=qmp,mode=control');
  return args;
}
