/**
 * Private key material must never reach a log, a report or the terminal. Redaction looks at the
 * content (an OpenSSH/PEM private key block anywhere in it), not at file names alone, so a key
 * nested in a tmpfiles line or a credential is caught too.
 */

export const REDACTED = '<redacted: private key material>';

const PRIVATE_KEY_BLOCK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

export function containsPrivateKey(text: string): boolean {
  return PRIVATE_KEY_BLOCK.test(text);
}
