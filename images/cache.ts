/**
 * The content-addressed base-disk cache, `<cacheDir>/images/`:
 *
 *   <sha256>.qcow2 | <sha256>.raw   the disk, named by the sha256 of its bytes, read-only (0444):
 *                                   it is the backing file of every overlay and must never change
 *   <sha256>.json                   its stamp: where it came from, sizes, mtime, when verified
 *   index/<name>.json               catalog name -> newest entry (what --offline boots)
 *   downloads/*.part                downloads in progress (resumable), never booted
 *   tmp/*.part                      decompression in progress
 *   locks/<name>.lock               one process fetches a given image at a time
 *
 * A hit trusts the stamp and checks only size and mtime: re-hashing a multi-GB disk on every run
 * would cost more than the run. `verify: true` (--verify-cache) re-hashes.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../core/atomic.js';
import { InfraError } from '../core/errors.js';
import { sha256File } from './download.js';

export type DiskFormat = 'qcow2' | 'raw';

export interface CacheStamp {
  schema: 1;
  /** sha256 of the disk file as stored; also its file name. */
  key: string;
  file: string;
  format: DiskFormat;
  /** The catalog name it was fetched for. */
  image: string;
  source: string;
  url?: string;
  stream?: string;
  version?: string;
  /** sha256 of the artifact as downloaded (compressed). */
  artifactSha256?: string;
  /** OCI image digest (oci source). */
  digest?: string;
  /** Hash of everything that produced a built disk (oci: image digest + builder config). */
  buildKey?: string;
  signature?: 'verified' | 'not-configured';
  artifactBytes?: number;
  sizeBytes: number;
  mtimeMs: number;
  createdAt: string;
  verifiedAt: string;
}

export interface IndexFile {
  name: string;
  /** Newest first. */
  entries: { key: string; version?: string; at: string }[];
}

export function imagesDir(cacheDir: string): string {
  return path.join(cacheDir, 'images');
}

export function diskFile(cacheDir: string, key: string, format: DiskFormat): string {
  return path.join(imagesDir(cacheDir), `${key}.${format}`);
}

function stampFile(cacheDir: string, key: string): string {
  return path.join(imagesDir(cacheDir), `${key}.json`);
}

function indexFile(cacheDir: string, name: string): string {
  return path.join(imagesDir(cacheDir), 'index', `${name}.json`);
}

export function lockFile(cacheDir: string, name: string): string {
  return path.join(imagesDir(cacheDir), 'locks', `${name}.lock`);
}

export function downloadsDir(cacheDir: string): string {
  return path.join(imagesDir(cacheDir), 'downloads');
}

export function tmpDir(cacheDir: string): string {
  return path.join(imagesDir(cacheDir), 'tmp');
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export async function readStamp(cacheDir: string, key: string): Promise<CacheStamp | null> {
  const stamp = await readJson<CacheStamp>(stampFile(cacheDir, key));
  return stamp && stamp.schema === 1 && stamp.key === key ? stamp : null;
}

export async function readIndex(cacheDir: string, name: string): Promise<IndexFile> {
  return (await readJson<IndexFile>(indexFile(cacheDir, name))) ?? { name, entries: [] };
}

/** Every stamp in the cache (small files; the disks themselves are not read). */
export async function listStamps(cacheDir: string): Promise<CacheStamp[]> {
  let names: string[];
  try {
    names = await fs.readdir(imagesDir(cacheDir));
  } catch {
    return [];
  }
  const stamps: CacheStamp[] = [];
  for (const n of names) {
    const m = /^([0-9a-f]{64})\.json$/.exec(n);
    if (!m) continue;
    const s = await readStamp(cacheDir, m[1]!);
    if (s) stamps.push(s);
  }
  return stamps;
}

export type EntryCheck = { ok: true; stamp: CacheStamp } | { ok: false; problem: string };

/**
 * Is this entry usable? Size and mtime must match the stamp (cheap); with `verify`, the content is
 * re-hashed and a mismatch is an error, not a quiet re-download: something changed a base disk.
 */
export async function checkEntry(cacheDir: string, stamp: CacheStamp, opts: { verify?: boolean; signal?: AbortSignal } = {}): Promise<EntryCheck> {
  const file = path.join(imagesDir(cacheDir), stamp.file);
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    return { ok: false, problem: `${file} is missing` };
  }
  if (st.size !== stamp.sizeBytes || Math.abs(st.mtimeMs - stamp.mtimeMs) >= 1) {
    return { ok: false, problem: `${file} changed since it was verified (size ${st.size} vs ${stamp.sizeBytes}, mtime ${new Date(st.mtimeMs).toISOString()} vs ${new Date(stamp.mtimeMs).toISOString()})` };
  }
  if (!opts.verify) return { ok: true, stamp };
  const found = await sha256File(file, opts.signal);
  if (found !== stamp.key) {
    await removeEntry(cacheDir, stamp);
    throw new InfraError(`cached image ${stamp.image} is corrupt: ${file} should have sha256 ${stamp.key} but has ${found}. It was removed from the cache; pull it again.`, 'image');
  }
  const verified = { ...stamp, verifiedAt: new Date().toISOString() };
  await writeJsonAtomic(stampFile(cacheDir, stamp.key), verified);
  return { ok: true, stamp: verified };
}

/** The newest usable entry recorded for a catalog name, or null. */
export async function lookupByName(cacheDir: string, name: string, opts: { verify?: boolean; signal?: AbortSignal } = {}): Promise<CacheStamp | null> {
  const index = await readIndex(cacheDir, name);
  for (const e of index.entries) {
    const stamp = await readStamp(cacheDir, e.key);
    if (!stamp) continue;
    const check = await checkEntry(cacheDir, stamp, opts);
    if (check.ok) return check.stamp;
  }
  return null;
}

/** A usable entry matching `match` (e.g. the artifact sha256 the stream now names), or null. */
export async function findEntry(cacheDir: string, match: (s: CacheStamp) => boolean, opts: { verify?: boolean; signal?: AbortSignal } = {}): Promise<CacheStamp | null> {
  for (const stamp of await listStamps(cacheDir)) {
    if (!match(stamp)) continue;
    const check = await checkEntry(cacheDir, stamp, opts);
    if (check.ok) return check.stamp;
  }
  return null;
}

/** Make `entry` the newest one for `name`. */
export async function recordInIndex(cacheDir: string, name: string, stamp: CacheStamp): Promise<void> {
  const index = await readIndex(cacheDir, name);
  const entries = [{ key: stamp.key, version: stamp.version, at: new Date().toISOString() }, ...index.entries.filter((e) => e.key !== stamp.key)];
  await writeJsonAtomic(indexFile(cacheDir, name), { name, entries } satisfies IndexFile);
}

export type StampInput = Omit<CacheStamp, 'schema' | 'key' | 'file' | 'sizeBytes' | 'mtimeMs' | 'createdAt' | 'verifiedAt'>;

/**
 * Move a verified disk into the cache under its content hash, write its stamp and point the
 * catalog name at it. `tmp` must be on the same filesystem (it is under tmpDir()).
 */
export async function commitDisk(cacheDir: string, tmp: string, sha256: string, input: StampInput): Promise<CacheStamp> {
  const target = diskFile(cacheDir, sha256, input.format);
  await fs.chmod(tmp, 0o444);
  await fs.rename(tmp, target);
  const st = await fs.stat(target);
  const now = new Date().toISOString();
  const stamp: CacheStamp = { schema: 1, key: sha256, file: path.basename(target), sizeBytes: st.size, mtimeMs: st.mtimeMs, createdAt: now, verifiedAt: now, ...input };
  await writeJsonAtomic(stampFile(cacheDir, sha256), stamp);
  await recordInIndex(cacheDir, input.image, stamp);
  return stamp;
}

/** Remove an entry's disk and stamp (index files keep the key; lookups skip missing stamps). */
export async function removeEntry(cacheDir: string, stamp: CacheStamp): Promise<number> {
  const file = path.join(imagesDir(cacheDir), stamp.file);
  let size = 0;
  try {
    size = (await fs.stat(file)).size;
  } catch {
    // already gone
  }
  await fs.rm(file, { force: true });
  await fs.rm(stampFile(cacheDir, stamp.key), { force: true });
  return size;
}

export async function listIndexes(cacheDir: string): Promise<IndexFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(path.join(imagesDir(cacheDir), 'index'));
  } catch {
    return [];
  }
  const out: IndexFile[] = [];
  for (const n of names.filter((x) => x.endsWith('.json'))) {
    const idx = await readJson<IndexFile>(path.join(imagesDir(cacheDir), 'index', n));
    if (idx) out.push(idx);
  }
  return out;
}

export async function removeIndex(cacheDir: string, name: string): Promise<void> {
  await fs.rm(indexFile(cacheDir, name), { force: true });
}

export async function writeIndex(cacheDir: string, index: IndexFile): Promise<void> {
  await writeJsonAtomic(indexFile(cacheDir, index.name), index);
}
