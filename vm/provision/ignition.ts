import path from 'node:path';
import { writeFileAtomic } from '../../core/atomic.js';
import type { Provisioning } from '../machine.js';

/**
 * Ignition (spec 3.3.0) configs for CoreOS-like images and the testbed. QEMU hands the file to the
 * guest with `-fw_cfg name=opt/com.coreos/config,file=<runDir>/config.ign`.
 *
 * The config can carry the machine's SSH *host private key*: it is written 0600 and must never be
 * logged — use redactIgnitionConfig() for anything that ends up in a log or report.
 */

export const IGNITION_VERSION = '3.3.0';
export const IGNITION_FW_CFG_NAME = 'opt/com.coreos/config';

export interface IgnitionUser {
  name: string;
  sshAuthorizedKeys: string[];
  groups?: string[];
}

export interface IgnitionFileSpec {
  path: string;
  /** Decimal mode as Ignition wants it (0o600 → 384). */
  mode: number;
  contents: string | Uint8Array;
}

export interface IgnitionUnit {
  name: string;
  enabled?: boolean;
  contents?: string;
  dropins?: { name: string; contents: string }[];
}

export interface IgnitionConfig {
  ignition: { version: string };
  passwd?: { users: IgnitionUser[] };
  storage?: { files: { path: string; mode: number; overwrite: boolean; contents: { source: string } }[] };
  systemd?: { units: IgnitionUnit[] };
  [key: string]: unknown;
}

/** `data:;base64,…` URL, the form Ignition accepts for inline file contents. */
export function dataUrl(contents: string | Uint8Array): string {
  return `data:;base64,${Buffer.from(contents).toString('base64')}`;
}

export function buildIgnitionConfig(parts: { users?: IgnitionUser[]; files?: IgnitionFileSpec[]; units?: IgnitionUnit[] }): IgnitionConfig {
  const config: IgnitionConfig = { ignition: { version: IGNITION_VERSION } };
  if (parts.users?.length) config.passwd = { users: parts.users.map((u) => ({ ...u, sshAuthorizedKeys: [...u.sshAuthorizedKeys] })) };
  if (parts.files?.length) {
    config.storage = {
      files: parts.files.map((f) => {
        if (!path.posix.isAbsolute(f.path)) throw new Error(`Ignition file path must be absolute: ${f.path}`);
        return { path: f.path, mode: f.mode, overwrite: true, contents: { source: dataUrl(f.contents) } };
      }),
    };
  }
  if (parts.units?.length) config.systemd = { units: parts.units };
  return config;
}

/** Host key material (file contents, not paths). */
export interface HostKeyMaterial {
  privateKey: string;
  publicKey: string;
}

export const HOST_KEY_PATH = '/etc/ssh/ssh_host_ed25519_key';

/** The files that install `hostKey` as the guest's ed25519 host key. */
export function hostKeyFiles(hostKey: HostKeyMaterial): IgnitionFileSpec[] {
  return [
    { path: HOST_KEY_PATH, mode: 0o600, contents: hostKey.privateKey.endsWith('\n') ? hostKey.privateKey : `${hostKey.privateKey}\n` },
    { path: `${HOST_KEY_PATH}.pub`, mode: 0o644, contents: `${hostKey.publicKey.trim()}\n` },
  ];
}

/** Ignition provisioning for SSH: one user with the run's client key, and a pinned host key. */
export function sshProvisioning(opts: {
  user: string;
  authorizedKey: string;
  hostKey?: HostKeyMaterial;
  groups?: string[];
  extraFiles?: IgnitionFileSpec[];
  units?: IgnitionUnit[];
}): Provisioning & { kind: 'ignition' } {
  const user: IgnitionUser = { name: opts.user, sshAuthorizedKeys: [opts.authorizedKey.trim()] };
  if (opts.groups?.length) user.groups = opts.groups;
  const files = [...(opts.hostKey ? hostKeyFiles(opts.hostKey) : []), ...(opts.extraFiles ?? [])];
  const parts: Parameters<typeof buildIgnitionConfig>[0] = { users: [user], files };
  if (opts.units) parts.units = opts.units;
  return { kind: 'ignition', config: buildIgnitionConfig(parts) };
}

/** Write the config for QEMU's fw_cfg: `<runDir>/config.ign`, mode 0600. Returns the path. */
export async function writeIgnitionConfig(runDir: string, config: Record<string, unknown>): Promise<string> {
  const file = path.join(runDir, 'config.ign');
  await writeFileAtomic(file, JSON.stringify(config), 0o600);
  return file;
}

/** A copy safe to log: contents of private key files (mode without group/other bits, or *_key) are replaced. */
export function redactIgnitionConfig(config: Record<string, unknown>): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(config)) as IgnitionConfig;
  for (const f of copy.storage?.files ?? []) {
    if (/_key$/.test(f.path) || (f.mode & 0o077) === 0) f.contents = { source: '<redacted>' };
  }
  return copy;
}
