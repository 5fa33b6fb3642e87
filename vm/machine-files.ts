import { promises as fs } from 'node:fs';
import path from 'node:path';
import { HostNotCapableError } from '../core/errors.js';
import { createBlankDisk, createOverlay } from './disk.js';
import { findOvmf } from './host-facts.js';
import type { MachineSpec } from './machine.js';
import { buildSeedIso } from './provision/cloud-init.js';
import { writeCredentialFiles } from './provision/credentials.js';
import { writeIgnitionConfig } from './provision/ignition.js';

/**
 * The files a machine boots from, made in its run dir before the first boot: the qcow2 overlay
 * over the base disk, blank extra disks, the provisioning (Ignition config, SMBIOS credential files
 * or cloud-init seed ISO, in the spec's provisionDir: they may hold the guest's host private key),
 * and a private copy of the UEFI vars. Shared by every backend (QEMU direct, libvirt), so a machine's run dir
 * looks the same whichever backend ran it.
 */
export interface MachineFiles {
  overlay?: string;
  extraDisks: string[];
  ignitionConfig?: string;
  seedIso?: string;
  /** One file per SMBIOS type 11 string (systemd credentials), for `-smbios type=11,path=`. */
  smbiosCredentialFiles?: string[];
  uefi?: { code: string; vars: string };
  /** Everything created here, for destroy() to remove (unless keepFiles). */
  owned: string[];
}

/**
 * Create the files. `owned` is filled as files appear, so a caller can clean up after a failure
 * halfway through (pass the array in to see partial progress).
 */
export async function prepareMachineFiles(spec: MachineSpec, owned: string[] = []): Promise<MachineFiles> {
  await fs.mkdir(spec.runDir, { recursive: true, mode: 0o700 });
  const files: MachineFiles = { extraDisks: [], owned };
  const diskDir = spec.diskDir ?? spec.runDir;
  await fs.mkdir(diskDir, { recursive: true, mode: 0o700 });
  if (spec.baseDisk) {
    const overlay = path.join(diskDir, 'overlay.qcow2');
    const ov: Parameters<typeof createOverlay>[0] = { base: spec.baseDisk.path, baseFormat: spec.baseDisk.format, overlay };
    if (spec.diskSizeGiB !== undefined) ov.sizeGiB = spec.diskSizeGiB;
    await createOverlay(ov);
    owned.push(overlay);
    files.overlay = overlay;
  }
  for (const [i, d] of (spec.extraDisks ?? []).entries()) {
    const file = path.join(diskDir, `extra-${i + 1}.qcow2`);
    await createBlankDisk(file, d.sizeGiB);
    files.extraDisks.push(file);
    owned.push(file);
  }
  await prepareProvisioningFiles(spec, files);
  if (spec.firmware === 'uefi') {
    const ovmf = findOvmf();
    if (!ovmf) throw new HostNotCapableError(`machine ${spec.name} needs UEFI firmware, but no OVMF was found`, 'apt-get install -y ovmf');
    const vars = path.join(diskDir, 'OVMF_VARS.fd');
    await fs.copyFile(ovmf.vars, vars);
    owned.push(vars);
    files.uefi = { code: ovmf.code, vars };
  }
  return files;
}

async function prepareProvisioningFiles(spec: MachineSpec, files: MachineFiles): Promise<void> {
  const p = spec.provisioning;
  if (p.kind === 'none') return;
  const dir = spec.provisionDir ?? spec.runDir;
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  if (p.kind === 'ignition') {
    files.ignitionConfig = await writeIgnitionConfig(dir, p.config);
    files.owned.push(files.ignitionConfig);
  } else if (p.kind === 'cloud-init') {
    files.seedIso = await buildSeedIso(dir, p);
    files.owned.push(files.seedIso);
  } else {
    // Pushed one by one, so a failure halfway leaves every written file in `owned`.
    files.smbiosCredentialFiles = [];
    for (const file of await writeCredentialFiles(dir, p.credentials)) {
      files.smbiosCredentialFiles.push(file);
      files.owned.push(file);
    }
  }
}
