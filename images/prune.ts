/**
 * `images prune`: remove what no catalog entry points to any more — older releases of a stream,
 * disks of entries that were deleted, interrupted downloads, leftover build dirs and lock files
 * nobody holds.
 *
 * What is kept: for every catalog name, the newest cache entry recorded for it (what --offline would
 * boot) and, for a url entry, the one matching its pinned sha256.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isLockFree, removeLockIfFree } from '../core/file-lock.js';
import { downloadsDir, imagesDir, listIndexes, listStamps, removeEntry, removeIndex, tmpDir, writeIndex } from './cache.js';
import type { CatalogEntry } from './catalog/schema.js';

export interface PrunedItem {
  path: string;
  bytes: number;
  reason: string;
}

export interface PruneReport {
  removed: PrunedItem[];
  bytesFreed: number;
  /** Things deliberately left alone, with why. */
  kept: string[];
}

async function sizeOfTree(p: string): Promise<number> {
  try {
    const st = await fs.lstat(p);
    if (!st.isDirectory()) return st.size;
    let total = 0;
    for (const n of await fs.readdir(p)) total += await sizeOfTree(path.join(p, n));
    return total;
  } catch {
    return 0;
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch {
    return [];
  }
}

export async function pruneCache(cacheDir: string, entries: CatalogEntry[], opts: { dryRun?: boolean } = {}): Promise<PruneReport> {
  const removed: PrunedItem[] = [];
  const kept: string[] = [];
  const remove = async (p: string, reason: string, bytes?: number): Promise<void> => {
    const size = bytes ?? (await sizeOfTree(p));
    if (!opts.dryRun) await fs.rm(p, { recursive: true, force: true });
    removed.push({ path: p, bytes: size, reason });
  };
  const names = new Map(entries.map((e) => [e.name, e]));
  const keep = new Set<string>();
  const stamps = await listStamps(cacheDir);

  for (const index of await listIndexes(cacheDir)) {
    const entry = names.get(index.name);
    if (!entry) {
      if (!opts.dryRun) await removeIndex(cacheDir, index.name);
      continue;
    }
    const present = index.entries.filter((e) => stamps.some((s) => s.key === e.key));
    if (present[0]) keep.add(present[0].key);
    if (!opts.dryRun && present.length !== index.entries.length) await writeIndex(cacheDir, { name: index.name, entries: present.slice(0, 1) });
  }
  for (const entry of entries) {
    const s = entry.source;
    if (s.kind === 'url' && s.sha256) for (const st of stamps) if (st.artifactSha256 === s.sha256) keep.add(st.key);
  }
  for (const st of stamps) {
    if (keep.has(st.key)) continue;
    const why = names.has(st.image) ? `an older ${st.version ?? 'version'} of ${st.image}, no longer what the catalog points to` : `image '${st.image}' is no longer in the catalog`;
    const file = path.join(imagesDir(cacheDir), st.file);
    const bytes = opts.dryRun ? await sizeOfTree(file) : await removeEntry(cacheDir, st);
    removed.push({ path: file, bytes, reason: why });
  }
  // Disks whose stamp is gone are unverifiable: nothing will ever use them.
  const stampKeys = new Set(stamps.map((s) => s.key));
  for (const n of await listDir(imagesDir(cacheDir))) {
    const m = /^([0-9a-f]{64})\.(qcow2|raw)$/.exec(n);
    if (m && !stampKeys.has(m[1]!)) await remove(path.join(imagesDir(cacheDir), n), 'disk without a stamp (unverifiable)');
  }

  const lockDir = path.join(imagesDir(cacheDir), 'locks');
  const locks = (await listDir(lockDir)).filter((n) => n.endsWith('.lock')).map((n) => path.join(lockDir, n));
  const busy = locks.filter((l) => !isLockFree(l));
  if (busy.length > 0) {
    kept.push(`partial downloads and build dirs: ${busy.length} image(s) are being fetched right now (${busy.map((b) => path.basename(b, '.lock')).join(', ')})`);
  } else {
    for (const dir of [downloadsDir(cacheDir), tmpDir(cacheDir)]) {
      for (const n of await listDir(dir)) await remove(path.join(dir, n), 'interrupted download or decompression');
    }
    const buildDir = path.join(imagesDir(cacheDir), 'build');
    for (const n of await listDir(buildDir)) await remove(path.join(buildDir, n), 'leftover build directory');
  }
  for (const l of locks) {
    if (busy.includes(l)) continue;
    if (opts.dryRun || removeLockIfFree(l)) removed.push({ path: l, bytes: 0, reason: 'lock file nobody holds' });
  }
  return { removed, bytesFreed: removed.reduce((a, r) => a + r.bytes, 0), kept };
}
