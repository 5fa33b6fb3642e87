/**
 * A throwaway OpenPGP signing key for signature tests: generated with gpg in a temp GNUPGHOME,
 * exported to a keyring file that `gpgv --keyring` reads. cleanup() stops the gpg-agent the key
 * generation started and removes the directory.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface TestSigningKey {
  /** Absolute path of the exported public keyring (binary OpenPGP, what gpgv --keyring takes). */
  keyring: string;
  /** Write a detached signature of `file` to `sigFile`. */
  sign(file: string, sigFile: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makeSigningKey(uid = 'bootpath test <test@bootpath.invalid>'): Promise<TestSigningKey> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-gpg-'));
  await fs.chmod(home, 0o700);
  const gpg = (args: string[]) => execFileP('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args]);
  const cleanup = async (): Promise<void> => {
    await execFileP('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => undefined);
    await fs.rm(home, { recursive: true, force: true });
  };
  try {
    await gpg(['--quick-gen-key', uid, 'ed25519', 'sign', '1d']);
    const keyring = path.join(home, 'pubring-export.gpg');
    await gpg(['--output', keyring, '--export', uid]);
    return {
      keyring,
      sign: async (file, sigFile) => {
        await gpg(['--yes', '--local-user', uid, '--output', sigFile, '--detach-sign', file]);
      },
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
