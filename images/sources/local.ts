/**
 * A disk already on this machine. It is booted in place (through an overlay, never written), and
 * its sha256 is recorded for provenance. Hashing a multi-GB file every run is too slow, so the hash
 * is remembered per path + size + mtime under `<cacheDir>/images/local/`.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../../core/atomic.js';
import { InputError } from '../../core/errors.js';
import { imagesDir } from '../cache.js';
import type { CatalogEntry } from '../catalog/schema.js';
import { sha256File } from '../download.js';
import { qemuImgInfo } from '../qemu-img.js';
import type { ResolvedImage, ResolveOptions } from '../provenance.js';
import { defaultFirmware, resolveUserPath } from './common.js';

type LocalSource = Extract<CatalogEntry['source'], { kind: 'local' }>;

interface LocalHash {
  path: string;
  size: number;
  mtimeMs: number;
  sha256: string;
  format: 'qcow2' | 'raw';
  hashedAt: string;
}

function hashCacheFile(cacheDir: string, file: string): string {
  return path.join(imagesDir(cacheDir), 'local', `${createHash('sha256').update(file).digest('hex').slice(0, 24)}.json`);
}

export async function cachedLocalHash(cacheDir: string, file: string, size: number, mtimeMs: number): Promise<LocalHash | null> {
  try {
    const h = JSON.parse(await fs.readFile(hashCacheFile(cacheDir, file), 'utf8')) as LocalHash;
    return h.path === file && h.size === size && h.mtimeMs === mtimeMs ? h : null;
  } catch {
    return null;
  }
}

export async function resolveLocal(entry: CatalogEntry, source: LocalSource, opts: ResolveOptions): Promise<ResolvedImage> {
  const file = resolveUserPath(source.path, opts.catalogFile);
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    throw new InputError(
      `image '${entry.name}': the local disk ${file} does not exist${opts.catalogFile ? ` (source.path '${source.path}' in ${opts.catalogFile}, relative paths are relative to that file)` : ''}. Fix the path or put the disk there.`,
    );
  }
  if (!st.isFile()) throw new InputError(`image '${entry.name}': ${file} is not a regular file${opts.catalogFile ? ` (source.path in ${opts.catalogFile})` : ''}`);
  let known = opts.verifyCache ? null : await cachedLocalHash(opts.cacheDir, file, st.size, st.mtimeMs);
  const cacheHit = known !== null;
  if (!known) {
    opts.log?.(`${entry.name}: hashing ${file} (once per change of the file)`);
    const info = await qemuImgInfo(file);
    const detected = info.format === 'qcow2' ? 'qcow2' : 'raw';
    if (source.format && source.format !== detected) {
      throw new InputError(`image '${entry.name}': ${file} is a ${info.format} disk but the catalog entry says format: ${source.format}${opts.catalogFile ? ` (${opts.catalogFile})` : ''}`);
    }
    known = { path: file, size: st.size, mtimeMs: st.mtimeMs, sha256: await sha256File(file, opts.signal), format: detected, hashedAt: new Date().toISOString() };
    await writeJsonAtomic(hashCacheFile(opts.cacheDir, file), known);
  }
  return {
    name: entry.name,
    diskPath: file,
    format: known.format,
    firmware: defaultFirmware(entry),
    provenance: { image: entry.name, source: 'local', url: `file://${file}`, sha256: known.sha256, uncompressedSha256: known.sha256, cacheHit, verifiedAt: known.hashedAt },
  };
}
