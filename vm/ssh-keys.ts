import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { SshKeyPair } from './machine.js';
import { runChecked } from './exec.js';

/**
 * Per-run client keys and per-machine host keys. The host key is injected into the guest at
 * provisioning time so the harness can pin it (no trust-on-first-use).
 */
export interface GeneratedKeyPair extends SshKeyPair {
  publicKeyPath: string;
  /** The base64 blob of the public key (second field), for comparing against what sshd presents. */
  publicKeyBlob: string;
  /** `ssh-ed25519` */
  keyType: string;
}

/** Split an OpenSSH public key line into type, blob and comment. */
export function parsePublicKey(line: string): { type: string; blob: string; comment: string } {
  const [type, blob, ...rest] = line.trim().split(/\s+/);
  if (!type || !blob) throw new Error(`not an OpenSSH public key: ${line.slice(0, 40)}…`);
  return { type, blob, comment: rest.join(' ') };
}

export async function generateKeyPair(dir: string, name: string, comment: string): Promise<GeneratedKeyPair> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`key name ${JSON.stringify(name)} must be a plain file name`);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const privateKeyPath = path.join(dir, name);
  await fs.rm(privateKeyPath, { force: true });
  await fs.rm(`${privateKeyPath}.pub`, { force: true });
  await runChecked('ssh-keygen', ['-t', 'ed25519', '-N', '', '-q', '-C', comment, '-f', privateKeyPath], { timeoutMs: 30_000 });
  await fs.chmod(privateKeyPath, 0o600);
  const publicKey = (await fs.readFile(`${privateKeyPath}.pub`, 'utf8')).trim();
  const parsed = parsePublicKey(publicKey);
  return { privateKeyPath, publicKeyPath: `${privateKeyPath}.pub`, publicKey, publicKeyBlob: parsed.blob, keyType: parsed.type };
}
