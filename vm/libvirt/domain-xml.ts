import type { Accel, DirectKernelBoot } from '../machine.js';
import { hostForwardRule, sanitizeName, smbiosCredentialArgs } from '../qemu/command.js';
import { IGNITION_FW_CFG_NAME } from '../provision/ignition.js';

/**
 * The libvirt domain XML of one boot of a bootpath machine. Pure: everything it needs is in
 * DomainDefinition, so unit tests can check every element that matters (and xmllint can check it
 * is well-formed).
 *
 * Choices worth knowing:
 * - The overlay is a plain `<disk type='file'>`: libvirt reads the qcow2 header and hands QEMU the
 *   backing chain (base opened read-only). No storage pool, no volume: libvirt never owns the file.
 * - `<seclabel model='dac' relabel='no'>` with a static label: QEMU runs as bootpath's own uid/gid
 *   and libvirt does not chown the overlay, the base disk, the kernel or the console file. Without
 *   it qemu:///system runs QEMU as libvirt-qemu, which can neither read files under a 0700 run or
 *   cache directory nor be allowed to chown bootpath's cached base disks.
 * - Networking: libvirt 9.0 (Debian 12) rejects `<backend type='passt'/>` ("Invalid value for
 *   attribute 'type' in element 'backend'"), and `<interface type='user'>` without passt has no
 *   port forwards. So the user-mode NIC is passed through with `<qemu:commandline>` — the same
 *   `-netdev user,hostfwd=tcp:127.0.0.1:PORT-:22` the QEMU backend uses (the domain is then marked
 *   "tainted: custom-argv" in libvirt's log; harmless). The NIC gets a fixed PCI slot that
 *   libvirt's own address assignment (which starts at the low slots) does not reach.
 * - `<on_reboot>destroy</on_reboot>`: a guest reset ends the domain, and the machine starts a new
 *   transient domain on the same overlay (mirrors the QEMU backend's fresh process per boot).
 */

export const BOOTPATH_METADATA_NS = 'https://bootpath.dev/xmlns/libvirt-machine/1';
export const BOOTPATH_METADATA_PREFIX = 'bootpath';
const QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0';

/** Who owns a domain: with the pid's start time, survives pid reuse (see vm/proc.ts). */
export interface DomainOwner {
  pid: number;
  startTime: number;
}

/** What bootpath records in every domain's `<metadata>`, so gc finds its domains by metadata. */
export interface BootpathDomainMetadata {
  runId: string;
  machine: string;
  runDir: string;
  boot: number;
  owner: DomainOwner;
}

export interface DomainDefinition {
  name: string;
  metadata: BootpathDomainMetadata;
  accel: Accel;
  machineType?: 'q35' | 'pc';
  emulator?: string;
  memoryMiB: number;
  cpus: number;
  overlay?: string;
  extraDisks?: string[];
  seedIso?: string;
  ignitionConfig?: string;
  /** Files each holding one SMBIOS type 11 string (systemd credentials). */
  smbiosCredentialFiles?: string[];
  uefi?: { code: string; vars: string };
  directKernel?: DirectKernelBoot;
  /** Serial console (ttyS0) goes to this file, truncated at start. */
  consoleLog: string;
  /** Host port forwarded from 127.0.0.1 to guestPort; null → user networking without forwards. */
  hostPort: number | null;
  guestPort?: number;
  /** Guest reset ends the domain (the machine then creates a new one on the same overlay). */
  destroyOnReboot: boolean;
  /** Run QEMU as this uid:gid without relabeling files (qemu:///system). Absent: libvirt's default. */
  runAs?: { uid: number; gid: number };
}

/** Domain names: bootpath-<run>-<machine>, [a-z0-9-] only (safe in file names libvirt derives). */
export function domainName(runId: string, machine: string): string {
  return `bootpath-${sanitizeName(runId)}-${sanitizeName(machine)}`;
}

/** Escape text for an XML attribute or element body. */
export function xmlEscape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function xmlUnescape(value: string): string {
  return value
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/**
 * The PCI address of the passed-through NIC: the top of the root bus that libvirt's automatic
 * assignment (lowest free slot first) leaves alone. q35 keeps 0x1f for its built-in ICH9
 * functions, so the NIC goes a little lower there.
 */
function nicPciAddress(machineType: 'q35' | 'pc'): string {
  return machineType === 'q35' ? 'bus=pcie.0,addr=0x10' : 'bus=pci.0,addr=0x1f';
}

/** The `-netdev`/`-device` pair for the user-mode NIC (with the 127.0.0.1-only SSH forward). */
export function userNetArgs(hostPort: number | null, guestPort: number, machineType: 'q35' | 'pc'): string[] {
  const netdev = hostPort === null ? 'user,id=bpnet0' : `user,id=bpnet0,${hostForwardRule(hostPort, guestPort)}`;
  return ['-netdev', netdev, '-device', `virtio-net-pci,netdev=bpnet0,${nicPciAddress(machineType)}`];
}

export function metadataXml(m: BootpathDomainMetadata, indent = '    '): string {
  const p = BOOTPATH_METADATA_PREFIX;
  const field = (k: string, v: string | number): string => `${indent}  <${p}:${k}>${xmlEscape(String(v))}</${p}:${k}>`;
  return [
    `${indent}<${p}:machine xmlns:${p}='${BOOTPATH_METADATA_NS}'>`,
    field('runId', m.runId),
    field('machineName', m.machine),
    field('runDir', m.runDir),
    field('boot', m.boot),
    field('ownerPid', m.owner.pid),
    field('ownerStartTime', m.owner.startTime),
    `${indent}</${p}:machine>`,
  ].join('\n');
}

/**
 * Read bootpath's metadata back from `virsh metadata <dom> ${BOOTPATH_METADATA_NS}` — libvirt has
 * already selected bootpath's namespace and prints the element without prefix or xmlns — or from
 * the `<metadata>` this module wrote. null when no complete bootpath record is there.
 */
export function parseBootpathMetadata(xml: string): BootpathDomainMetadata | null {
  const block = /<([\w.-]+:)?machine(?:\s[^>]*)?>([\s\S]*?)<\/\1?machine>/.exec(xml);
  if (!block) return null;
  const body = block[2] ?? '';
  const get = (k: string): string | null => {
    const m = new RegExp(`<(?:[\\w.-]+:)?${k}>([^<]*)</(?:[\\w.-]+:)?${k}>`).exec(body);
    return m?.[1] !== undefined ? xmlUnescape(m[1]) : null;
  };
  const runId = get('runId');
  const machine = get('machineName');
  const runDir = get('runDir');
  const boot = Number(get('boot'));
  const pid = Number(get('ownerPid'));
  const startTime = Number(get('ownerStartTime'));
  if (runId === null || machine === null || runDir === null || !Number.isInteger(pid) || pid <= 0 || !Number.isFinite(startTime)) return null;
  return { runId, machine, runDir, boot: Number.isInteger(boot) ? boot : 0, owner: { pid, startTime } };
}

export function buildDomainXml(d: DomainDefinition): string {
  const machineType = d.machineType ?? 'q35';
  const e = xmlEscape;
  const lines: string[] = [];
  const push = (s: string): void => {
    lines.push(s);
  };

  push(`<domain type='${d.accel === 'kvm' ? 'kvm' : 'qemu'}' xmlns:qemu='${QEMU_NS}'>`);
  push(`  <name>${e(d.name)}</name>`);
  push('  <metadata>');
  push(metadataXml(d.metadata));
  push('  </metadata>');
  push(`  <memory unit='MiB'>${d.memoryMiB}</memory>`);
  push(`  <vcpu>${d.cpus}</vcpu>`);
  if (d.ignitionConfig) {
    // fw_cfg entry (libvirt ≥ 6.5): what `-fw_cfg name=opt/com.coreos/config,file=…` does directly.
    push(`  <sysinfo type='fwcfg'>`);
    push(`    <entry name='${IGNITION_FW_CFG_NAME}' file='${e(d.ignitionConfig)}'/>`);
    push('  </sysinfo>');
  }

  push('  <os>');
  push(`    <type arch='x86_64' machine='${machineType}'>hvm</type>`);
  if (d.uefi) {
    push(`    <loader readonly='yes' type='pflash'>${e(d.uefi.code)}</loader>`);
    // A per-machine copy of the vars template, made by the machine; libvirt uses it as is.
    push(`    <nvram>${e(d.uefi.vars)}</nvram>`);
  }
  if (d.directKernel) {
    push(`    <kernel>${e(d.directKernel.kernel)}</kernel>`);
    if (d.directKernel.initrd) push(`    <initrd>${e(d.directKernel.initrd)}</initrd>`);
    if (d.directKernel.append) push(`    <cmdline>${e(d.directKernel.append)}</cmdline>`);
  } else {
    push(`    <boot dev='hd'/>`);
  }
  push('  </os>');
  // ACPI: the power button (virsh shutdown) reaches the guest.
  push('  <features>');
  push('    <acpi/>');
  push('    <apic/>');
  push('  </features>');
  // host-passthrough needs KVM; under TCG 'maximum' is QEMU's -cpu max (every feature TCG emulates).
  push(`  <cpu mode='${d.accel === 'kvm' ? 'host-passthrough' : 'maximum'}'/>`);
  push('  <on_poweroff>destroy</on_poweroff>');
  push(`  <on_reboot>${d.destroyOnReboot ? 'destroy' : 'restart'}</on_reboot>`);
  push('  <on_crash>destroy</on_crash>');

  push('  <devices>');
  if (d.emulator) push(`    <emulator>${e(d.emulator)}</emulator>`);
  const disk = (dev: string, file: string, serial?: string): void => {
    push(`    <disk type='file' device='disk'>`);
    push(`      <driver name='qemu' type='qcow2' discard='unmap'/>`);
    push(`      <source file='${e(file)}'/>`);
    push(`      <target dev='${dev}' bus='virtio'/>`);
    if (serial) push(`      <serial>${e(serial)}</serial>`);
    push('    </disk>');
  };
  if (d.overlay) disk('vda', d.overlay);
  (d.extraDisks ?? []).forEach((file, i) => disk(`vd${String.fromCharCode('b'.charCodeAt(0) + i)}`, file, `bootpath-extra-${i + 1}`));
  if (d.seedIso) {
    // NoCloud seed: cloud-init finds the CD-ROM by its volume label (cidata).
    push(`    <disk type='file' device='cdrom'>`);
    push(`      <driver name='qemu' type='raw'/>`);
    push(`      <source file='${e(d.seedIso)}'/>`);
    push(machineType === 'q35' ? `      <target dev='sda' bus='sata'/>` : `      <target dev='hdc' bus='ide'/>`);
    push('      <readonly/>');
    push('    </disk>');
  }
  // One console file per boot, truncated when the domain starts: the console tail of boot n reads
  // exactly boot n's output.
  push(`    <serial type='file'>`);
  push(`      <source path='${e(d.consoleLog)}' append='off'/>`);
  push(`      <target port='0'/>`);
  push('    </serial>');
  // Entropy for the guest: first boots generate keys and would otherwise stall under TCG.
  push(`    <rng model='virtio'>`);
  push(`      <backend model='random'>/dev/urandom</backend>`);
  push('    </rng>');
  push(`    <controller type='usb' model='none'/>`);
  push(`    <memballoon model='none'/>`);
  push('  </devices>');

  if (d.runAs) {
    push(`  <seclabel type='static' model='dac' relabel='no'>`);
    push(`    <label>+${d.runAs.uid}:+${d.runAs.gid}</label>`);
    push('  </seclabel>');
  }
  push('  <qemu:commandline>');
  for (const arg of userNetArgs(d.hostPort, d.guestPort ?? 22, machineType)) push(`    <qemu:arg value='${e(arg)}'/>`);
  // Passed through to QEMU rather than as <sysinfo type='smbios'><oemStrings>: oem strings are
  // values, so the host private key would sit in this XML (kept in the run dir) and in libvirt's
  // domain log; `-smbios type=11,path=` names a 0600 file in the private provision dir instead.
  for (const arg of smbiosCredentialArgs(d.smbiosCredentialFiles ?? [])) push(`    <qemu:arg value='${e(arg)}'/>`);
  push('  </qemu:commandline>');
  push('</domain>');
  return lines.join('\n') + '\n';
}
