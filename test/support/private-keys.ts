import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Every regular file under `dir` whose bytes hold a private key block, also base64-wrapped (Ignition data URLs, credentials). */
export async function filesWithPrivateKeys(dir: string): Promise<string[]> {
  const found: string[] = [];
  const base64Head = Buffer.from('-----BEGIN OPENSSH PRIVATE KEY-----').toString('base64').slice(0, 32);
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const bytes = await fs.readFile(file).catch(() => Buffer.alloc(0));
    if (bytes.includes('PRIVATE KEY-----') || bytes.includes(base64Head)) found.push(file);
  }
  return found;
}
