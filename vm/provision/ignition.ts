import path from 'node:path';
import { writeFileAtomic } from '../../core/atomic.js';
import type { Provisioning } from '../machine.js';
import { containsPrivateKey, REDACTED } from './redact.js';

/**
 * Ignition configs for CoreOS-like images and the testbed. QEMU hands the file to the guest with
 * `-fw_cfg name=opt/com.coreos/config,file=<provisionDir>/config.ign`.
 *
 * Spec 3.3.0: the lowest version that carries everything written here (users with keys, files
 * with an owner, units). Ignition releases before 2.15.0 reject 3.4.0 as an unsupported version,
 * and RHEL 8-based RHCOS (4.12 and older) and Debian's ignition 2.14 are such releases.
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
  /** Owner by name, resolved by Ignition against the target root's passwd (default root). */
  owner?: string;
}

interface IgnitionFile {
  path: string;
  mode: number;
  overwrite: boolean;
  contents: { source: string };
  user?: { name: string };
  group?: { name: string };
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
  storage?: { files: IgnitionFile[] };
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
        const file: IgnitionFile = { path: f.path, mode: f.mode, overwrite: true, contents: { source: dataUrl(f.contents) } };
        // The user's primary group has the user's name on every image bootpath provisions.
        if (f.owner) Object.assign(file, { user: { name: f.owner }, group: { name: f.owner } });
        return file;
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

/**
 * Login files that survive the move to a bootc image. On FCOS/RHCOS, Ignition writes the keys to
 * `~/.ssh/authorized_keys.d/ignition` (`writeAuthorizedKeysFragment = "true"` in coreos/ignition
 * internal/distro/distro.go, v2.26.0), which sshd reads only through the image's
 * `/etc/ssh/sshd_config.d/40-ssh-key-dir.conf`; passwordless sudo is the image's
 * `/etc/sudoers.d/coreos-sudo-group`. Both are unmodified /etc defaults, which OSTree's three-way
 * /etc merge drops when the new image (centos-bootc, rhel-bootc) does not ship them. Files that
 * Ignition *creates* are local modifications and are kept, and the home directory lives in /var,
 * which no deployment touches: so the plain `authorized_keys` and a bootpath sudoers drop-in.
 *
 * The `.ssh` directory already exists, owned by the user with mode 0700, when these files are
 * written: Ignition's files stage creates users (and their authorized_keys.d fragment, through
 * `as_user.MkdirAll(…, 0700)`) before it creates files (internal/exec/stages/files/files.go,
 * internal/exec/util/passwd.go, v2.26.0).
 */
export function transitionSafeLoginFiles(user: string, authorizedKey: string): IgnitionFileSpec[] {
  return [
    { path: `${homeDir(user)}/.ssh/authorized_keys`, mode: 0o600, contents: `${authorizedKey.trim()}\n`, owner: user },
    { path: sudoersDropInPath(user), mode: 0o440, contents: sudoersLine(user) },
  ];
}

/** The login user's home as CoreOS and bootc images lay it out (`/home` is a link to `/var/home`). */
export function homeDir(user: string): string {
  return user === 'root' ? '/root' : `/var/home/${user}`;
}

export function sudoersDropInPath(user: string): string {
  return `/etc/sudoers.d/90-bootpath-${user}`;
}

export function sudoersLine(user: string): string {
  return `${user} ALL=(ALL) NOPASSWD: ALL\n`;
}

/**
 * Zincati off, the way kola does it: an FCOS guest that boots an image older than its stream's
 * newest release would otherwise stage an update and reboot mid-scenario.
 */
export const ZINCATI_OFF: IgnitionFileSpec = {
  path: '/etc/zincati/config.d/90-disable-auto-updates.toml',
  mode: 0o644,
  contents: '[updates]\nenabled = false\n',
};

/** Ignition provisioning for SSH: one user with the run's client key, and a pinned host key. */
export function sshProvisioning(opts: {
  user: string;
  authorizedKey: string;
  hostKey?: HostKeyMaterial;
  groups?: string[];
  /** Also write transitionSafeLoginFiles() (every scenario machine does; benches need not). */
  transitionSafeLogin?: boolean;
  /** The image runs Zincati (Fedora CoreOS): switch its automatic updates off. */
  zincati?: boolean;
  extraFiles?: IgnitionFileSpec[];
  units?: IgnitionUnit[];
}): Provisioning & { kind: 'ignition' } {
  const user: IgnitionUser = { name: opts.user, sshAuthorizedKeys: [opts.authorizedKey.trim()] };
  if (opts.groups?.length) user.groups = opts.groups;
  const files = [
    ...(opts.hostKey ? hostKeyFiles(opts.hostKey) : []),
    ...(opts.transitionSafeLogin ? transitionSafeLoginFiles(opts.user, opts.authorizedKey) : []),
    ...(opts.zincati ? [ZINCATI_OFF] : []),
    ...(opts.extraFiles ?? []),
  ];
  const parts: Parameters<typeof buildIgnitionConfig>[0] = { users: [user], files };
  if (opts.units) parts.units = opts.units;
  return { kind: 'ignition', config: buildIgnitionConfig(parts) };
}

/** Write the config for QEMU's fw_cfg: `<dir>/config.ign`, mode 0600. Returns the path. */
export async function writeIgnitionConfig(dir: string, config: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, 'config.ign');
  await writeFileAtomic(file, JSON.stringify(config), 0o600);
  return file;
}

/**
 * A copy safe to log: the contents of files that hold private key material (decoded and checked)
 * or whose path names a private host key are replaced; public keys and everything else stay
 * readable, so a user can see why a login fails.
 */
export function redactIgnitionConfig(config: Record<string, unknown>): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(config)) as IgnitionConfig;
  for (const f of copy.storage?.files ?? []) {
    if (/_key$/.test(f.path) || containsPrivateKey(decodeDataUrl(f.contents.source))) f.contents = { source: REDACTED };
  }
  return copy;
}

function decodeDataUrl(url: string): string {
  const comma = url.indexOf(',');
  if (!url.startsWith('data:') || comma < 0) return url;
  const payload = url.slice(comma + 1);
  return url.slice(0, comma).endsWith(';base64') ? Buffer.from(payload, 'base64').toString('utf8') : decodeURIComponent(payload);
}
