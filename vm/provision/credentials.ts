/**
 * Provisioning for bootc images: systemd system credentials passed in SMBIOS type 11 OEM strings,
 * the way bcvk does it (bootc-dev/bcvk crates/bcvk-qemu/src/credentials.rs, commit 04f91c2a:
 * `io.systemd.credential.binary:tmpfiles.extra=<base64>` carrying `f+~` lines with base64
 * contents; crates/bcvk-qemu/src/qemu.rs passes each as `-smbios type=11,value=…`). bootc images
 * ship no cloud-init and no Ignition, but every one runs systemd (≥ 252 on CentOS Stream 9), whose
 * PID 1 imports SMBIOS credentials at boot; systemd-sysusers reads `sysusers.extra` and
 * systemd-tmpfiles reads `tmpfiles.extra`. Both run on every boot, so the login also comes back
 * after an image switch whatever the /etc merge kept.
 *
 * The credentials carry the guest's host private key: the strings are written to 0600 files in
 * the machine's private provision dir, and QEMU reads them from there (`-smbios type=11,path=`), so
 * the key is not on a command line. redactCredentials() is the only form fit for a log.
 */
import path from 'node:path';
import { writeFileAtomic } from '../../core/atomic.js';
import type { Provisioning, SystemdCredential } from '../machine.js';
import { HOST_KEY_PATH, homeDir, sudoersDropInPath, sudoersLine, type HostKeyMaterial } from './ignition.js';
import { containsPrivateKey, REDACTED } from './redact.js';

/** The SMBIOS type 11 prefix systemd reads a base64-encoded credential from. */
export const SMBIOS_CREDENTIAL_PREFIX = 'io.systemd.credential.binary:';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** A user and group name fit for sysusers.d and tmpfiles.d lines (no spaces, no quoting needed). */
const NAME = /^[a-z_][a-z0-9_-]*$/;

/**
 * tmpfiles.d lines that install the login: the user's home and `.ssh` (0700, owned by the user),
 * `authorized_keys` with exactly the run's key (0600), the pinned host key, and a sudoers drop-in
 * (0440) for the passwordless `sudo -n` the state reads need. `f+` replaces what is there (a key
 * baked in at disk-build time, a host key generated at an earlier boot); `~` means the argument is
 * base64, so key text needs no tmpfiles escaping.
 */
export function loginTmpfiles(opts: { user: string; authorizedKey: string; hostKey?: HostKeyMaterial }): string {
  const { user } = opts;
  if (!NAME.test(user)) throw new Error(`login user ${JSON.stringify(user)} is not a plain user name`);
  const home = homeDir(user);
  const lines = [
    `d ${home} 0700 ${user} ${user} -`,
    `d ${home}/.ssh 0700 ${user} ${user} -`,
    `f+~ ${home}/.ssh/authorized_keys 0600 ${user} ${user} - ${b64(`${opts.authorizedKey.trim()}\n`)}`,
  ];
  if (opts.hostKey) {
    const priv = opts.hostKey.privateKey.endsWith('\n') ? opts.hostKey.privateKey : `${opts.hostKey.privateKey}\n`;
    lines.push(`f+~ ${HOST_KEY_PATH} 0600 root root - ${b64(priv)}`, `f+~ ${HOST_KEY_PATH}.pub 0644 root root - ${b64(`${opts.hostKey.publicKey.trim()}\n`)}`);
  }
  if (user !== 'root') lines.push(`f+~ ${sudoersDropInPath(user)} 0440 root root - ${b64(sudoersLine(user))}`);
  return `${lines.join('\n')}\n`;
}

/**
 * sysusers.d line for the login user, for images that have none (a bootc image booted straight
 * from a registry disk). A `u` line leaves an existing user alone, so it is harmless where
 * bootc-image-builder already created the user.
 */
export function loginSysusers(user: string): string {
  if (!NAME.test(user)) throw new Error(`login user ${JSON.stringify(user)} is not a plain user name`);
  return `u ${user} - "bootpath login user" ${homeDir(user)} /bin/bash\n`;
}

export function credentialsProvisioning(opts: { user: string; authorizedKey: string; hostKey?: HostKeyMaterial }): Provisioning & { kind: 'credentials' } {
  const credentials: SystemdCredential[] = [];
  if (opts.user !== 'root') credentials.push({ name: 'sysusers.extra', value: loginSysusers(opts.user) });
  credentials.push({ name: 'tmpfiles.extra', value: loginTmpfiles(opts) });
  return { kind: 'credentials', credentials };
}

/** The SMBIOS type 11 string for one credential. */
export function smbiosCredentialString(c: SystemdCredential): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(c.name)) throw new Error(`credential name ${JSON.stringify(c.name)} is not a plain name`);
  return `${SMBIOS_CREDENTIAL_PREFIX}${c.name}=${b64(c.value)}`;
}

/**
 * Write each credential's SMBIOS string to `<dir>/smbios-11-<n>.txt` (0600, no trailing newline:
 * QEMU takes the file's bytes as the string). Returns the paths, in order.
 */
export async function writeCredentialFiles(dir: string, credentials: readonly SystemdCredential[]): Promise<string[]> {
  const files: string[] = [];
  for (const [i, c] of credentials.entries()) {
    const file = path.join(dir, `smbios-11-${i + 1}.txt`);
    await writeFileAtomic(file, smbiosCredentialString(c), 0o600);
    files.push(file);
  }
  return files;
}

/** A copy safe to print: tmpfiles lines whose decoded argument is private key material are redacted. */
export function redactCredentials(credentials: readonly SystemdCredential[]): SystemdCredential[] {
  return credentials.map((c) => ({ name: c.name, value: c.value.split('\n').map(redactTmpfilesLine).join('\n') }));
}

function redactTmpfilesLine(line: string): string {
  if (containsPrivateKey(line)) return REDACTED;
  const fields = line.split(' ');
  const arg = fields.slice(6).join(' ');
  if (fields[0]?.includes('~') && arg && containsPrivateKey(Buffer.from(arg, 'base64').toString('utf8'))) return [...fields.slice(0, 6), REDACTED].join(' ');
  return line;
}
