import { promises as fs } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { HostNotCapableError } from '../../core/errors.js';
import { runChecked, whichBinary } from '../exec.js';
import type { Provisioning } from '../machine.js';
import type { HostKeyMaterial } from './ignition.js';

/**
 * cloud-init NoCloud seed: an ISO9660 volume labelled `cidata` holding `user-data` and
 * `meta-data`, attached to the machine as a CD-ROM. cloud-init finds it by the label.
 */

export const SEED_VOLUME_LABEL = 'cidata';

export function cloudInitUserData(opts: { user: string; authorizedKey: string; hostKey?: HostKeyMaterial; groups?: string[] }): string {
  const user: Record<string, unknown> = {
    name: opts.user,
    sudo: 'ALL=(ALL) NOPASSWD:ALL',
    shell: '/bin/bash',
    lock_passwd: true,
    ssh_authorized_keys: [opts.authorizedKey.trim()],
  };
  if (opts.groups?.length) user.groups = opts.groups.join(',');
  const doc: Record<string, unknown> = { users: [user] };
  if (opts.hostKey) {
    // Replace whatever keys the image has with the injected one, so the harness can pin it.
    doc.ssh_deletekeys = true;
    doc.ssh_genkeytypes = [];
    doc.ssh_keys = { ed25519_private: opts.hostKey.privateKey, ed25519_public: opts.hostKey.publicKey.trim() };
  }
  return `#cloud-config\n${stringify(doc)}`;
}

export function cloudInitMetaData(instanceId: string, hostname: string): string {
  return stringify({ 'instance-id': instanceId, 'local-hostname': hostname });
}

/**
 * cloud-init provisioning for a machine: either ready-made user-data/meta-data, or the parts to
 * build them from (one user with the run's key, optionally a pinned host key).
 */
export function cloudInitProvisioning(
  opts:
    | { userData: string; metaData: string }
    | { machineName: string; user: string; authorizedKey: string; hostKey?: HostKeyMaterial; groups?: string[] },
): Provisioning & { kind: 'cloud-init' } {
  if ('userData' in opts) return { kind: 'cloud-init', userData: opts.userData, metaData: opts.metaData };
  return {
    kind: 'cloud-init',
    userData: cloudInitUserData(opts),
    metaData: cloudInitMetaData(`bootpath-${opts.machineName}`, opts.machineName),
  };
}

/** Build `<dir>/seed.iso` (mode 0600: it may hold a host private key). Returns its path. */
export async function buildSeedIso(dir: string, data: { userData: string; metaData: string }): Promise<string> {
  const xorriso = await whichBinary('xorriso');
  if (!xorriso) throw new HostNotCapableError('xorriso is needed to build the cloud-init seed ISO', 'apt-get install -y xorriso');
  const staging = path.join(dir, 'seed');
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(staging, 'user-data'), data.userData, { mode: 0o600 });
  await fs.writeFile(path.join(staging, 'meta-data'), data.metaData, { mode: 0o600 });
  const iso = path.join(dir, 'seed.iso');
  await fs.rm(iso, { force: true });
  try {
    await runChecked(xorriso, ['-as', 'mkisofs', '-quiet', '-V', SEED_VOLUME_LABEL, '-J', '-r', '-o', iso, staging], { timeoutMs: 60_000 });
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  await fs.chmod(iso, 0o600);
  return iso;
}
