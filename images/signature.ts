/**
 * Detached OpenPGP signature check with gpgv: no keyring of the user's is read or changed, only the
 * keyring the catalog entry names (e.g. Fedora's fedora.gpg).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HostNotCapableError, InfraError } from '../core/errors.js';

const execFileP = promisify(execFile);

export async function verifyDetachedSignature(file: string, sigFile: string, keyring: string, label: string): Promise<void> {
  try {
    // gpgv looks relative keyring names up in GNUPGHOME: the path must be absolute (it is, by the caller).
    await execFileP('gpgv', ['--keyring', keyring, sigFile, file], { maxBuffer: 1 << 20 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new HostNotCapableError('gpgv is needed to verify image signatures but was not found', 'apt-get install gpgv (Debian/Ubuntu) or dnf install gnupg2 (Fedora)');
    const detail = (e.stderr ?? e.message).trim().split('\n').slice(-3).join(' / ');
    throw new InfraError(`signature check failed for ${label}: gpgv --keyring ${keyring} rejected the signature (${detail}). The download was deleted and will not be booted.`, 'image');
  }
}
