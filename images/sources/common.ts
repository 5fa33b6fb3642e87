/** Helpers shared by the image sources. */
import os from 'node:os';
import path from 'node:path';
import type { CatalogEntry } from '../catalog/schema.js';
import type { CacheStamp } from '../cache.js';
import { diskFile } from '../cache.js';
import type { ResolvedImage, ResolveOptions } from '../provenance.js';

/** `~` expanded; relative paths are relative to the catalog file's folder (else the cwd). */
export function resolveUserPath(p: string, catalogFile: string | undefined): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  if (path.isAbsolute(p)) return p;
  return path.resolve(catalogFile ? path.dirname(catalogFile) : process.cwd(), p);
}

export function defaultFirmware(entry: CatalogEntry): 'bios' | 'uefi' {
  return entry.firmware ?? 'bios';
}

/** A resolved image served from a cache entry. */
export function fromStamp(entry: CatalogEntry, stamp: CacheStamp, opts: ResolveOptions, cacheHit: boolean): ResolvedImage {
  return {
    name: entry.name,
    diskPath: diskFile(opts.cacheDir, stamp.key, stamp.format),
    format: stamp.format,
    firmware: defaultFirmware(entry),
    provenance: {
      image: entry.name,
      source: stamp.source,
      url: stamp.url,
      stream: stamp.stream,
      version: stamp.version,
      sha256: stamp.artifactSha256,
      uncompressedSha256: stamp.key,
      digest: stamp.digest,
      signature: stamp.signature,
      cacheHit,
      verifiedAt: stamp.verifiedAt,
    },
  };
}
