import { createHash } from 'node:crypto';

/**
 * A pinned SSH host key. The harness injects the guest's host key at provisioning time, so it
 * knows the exact key blob in advance: verification is a byte comparison, never trust-on-first-use.
 */
export interface PinnedHostKey {
  /** Key type from the public key line, e.g. `ssh-ed25519`. */
  type: string;
  /** The raw SSH wire-format key blob (what ssh2's hostVerifier receives). */
  blob: Buffer;
  /** `SHA256:…` as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

/** `SHA256:<base64 without padding>` of a raw key blob, the OpenSSH fingerprint format. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Parse an OpenSSH public key line `ssh-ed25519 AAAA… [comment]`. */
export function parsePublicKeyLine(line: string): PinnedHostKey {
  const [type, b64] = line.trim().split(/\s+/);
  if (!type || !b64 || b64.length < 16 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new TypeError(`not an OpenSSH public key line (expected "ssh-ed25519 AAAA… [comment]"): ${JSON.stringify(line.slice(0, 80))}`);
  }
  const blob = Buffer.from(b64, 'base64');
  // The blob starts with its own key type as an SSH string; a mismatch means a corrupted line.
  const innerLen = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const innerType = innerLen > 0 && innerLen + 4 <= blob.length ? blob.subarray(4, 4 + innerLen).toString('latin1') : null;
  if (innerType !== type) {
    throw new TypeError(`public key line says ${type} but its key data is ${innerType ?? 'unreadable'}`);
  }
  return { type, blob, fingerprint: fingerprintOf(blob) };
}
