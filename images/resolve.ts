/**
 * Catalog entry -> verified, cached, bootable base disk. The one entry point the runner calls.
 *
 * Fetching sources run under a per-image cross-process lock: when several bootpath processes share
 * a cache, one downloads or builds, the others wait and then find it in the cache.
 */
import path from 'node:path';
import { describeOwner, withFileLock } from '../core/file-lock.js';
import { InfraError } from '../core/errors.js';
import { findEntry, imagesDir, lockFile, lookupByName, type CacheStamp } from './cache.js';
import type { CatalogEntry } from './catalog/schema.js';
import { pullCommand, type ResolvedImage, type ResolveOptions } from './provenance.js';
import { fromStamp } from './sources/common.js';
import { readCachedMetadata, resolveCoreosStream, streamMetadataUrl } from './sources/coreos-stream.js';
import { cachedLocalHash, resolveLocal } from './sources/local.js';
import { resolveOci } from './sources/oci.js';
import { resolveTestbed } from './sources/testbed.js';
import { missingChecksumError, resolveUrl } from './sources/url.js';
import { promises as fs } from 'node:fs';
import { resolveUserPath } from './sources/common.js';

export type { ImageProvenance, ResolvedImage, ResolveOptions } from './provenance.js';

export async function resolveImage(entry: CatalogEntry, opts: ResolveOptions): Promise<ResolvedImage> {
  const source = entry.source;
  // Sources that need no network and have their own caching.
  if (source.kind === 'local') return resolveLocal(entry, source, opts);
  if (source.kind === 'testbed') return resolveTestbed(entry, opts);
  if (source.kind === 'url' && !source.sha256 && !opts.insecureNoChecksum) throw missingChecksumError(entry, source, opts.catalogFile);

  if (opts.offline) {
    const stamp = await offlineEntry(entry, opts);
    if (!stamp) {
      throw new InfraError(
        `image '${entry.name}' is not in the cache (${imagesDir(opts.cacheDir)}) and --offline forbids fetching it. Fetch it while online with: ${pullCommand(entry.name)}`,
        'image',
      );
    }
    opts.log?.(`${entry.name}: offline, using cached ${stamp.version ?? stamp.file}`);
    return fromStamp(entry, stamp, opts, true);
  }

  const log = opts.log ?? (() => {});
  return withFileLock(
    lockFile(opts.cacheDir, entry.name),
    { purpose: `fetching ${entry.name}`, signal: opts.signal, onWait: (owner) => log(`${entry.name}: waiting for ${describeOwner(owner)} to finish with this image`) },
    async () => {
      switch (source.kind) {
        case 'coreos-stream':
          return resolveCoreosStream(entry, source, opts);
        case 'url':
          return resolveUrl(entry, source, opts);
        case 'oci':
          return resolveOci(entry, source, opts);
      }
    },
  );
}

/** The cache entry --offline boots: the pinned one for a url source, else the newest for the name. */
async function offlineEntry(entry: CatalogEntry, opts: ResolveOptions): Promise<CacheStamp | null> {
  const check = { verify: opts.verifyCache, signal: opts.signal };
  const s = entry.source;
  if (s.kind === 'url' && s.sha256) return findEntry(opts.cacheDir, (st) => st.artifactSha256 === s.sha256, check);
  return lookupByName(opts.cacheDir, entry.name, check);
}

export interface ProvenancePreview {
  image: string;
  source: string;
  /** Where it would come from. */
  location: string;
  /** What pins it (a sha256, a stream, a digest), when anything does. */
  pinned?: string;
  cached: { version?: string; sha256: string; sizeBytes: number; cachedAt: string; path: string } | null;
  /** One line for humans. */
  text: string;
}

/** What --dry-run shows about an image: no network, no hashing, only the catalog and the cache. */
export async function describeProvenance(entry: CatalogEntry, cacheDir: string, catalogFile?: string): Promise<ProvenancePreview> {
  const s = entry.source;
  let location: string;
  let pinned: string | undefined;
  let cached: ProvenancePreview['cached'] = null;
  const fromCache = (st: CacheStamp | null): ProvenancePreview['cached'] =>
    st ? { version: st.version, sha256: st.key, sizeBytes: st.sizeBytes, cachedAt: st.createdAt, path: path.join(imagesDir(cacheDir), st.file) } : null;
  switch (s.kind) {
    case 'coreos-stream': {
      const url = streamMetadataUrl(s);
      location = `${url} (${s.format ?? 'qcow2.xz'}, ${entry.arch ?? 'x86_64'})`;
      pinned = `stream ${s.stream}, sha256 from the stream metadata${s.keyring ? ', signature checked with gpgv' : ''}`;
      cached = fromCache(await lookupByName(cacheDir, entry.name));
      const meta = await readCachedMetadata(cacheDir, url);
      if (meta) location += `, metadata read ${meta.fetchedAt}`;
      break;
    }
    case 'url':
      location = s.url;
      pinned = s.sha256 ? `sha256 ${s.sha256}` : undefined;
      cached = fromCache(s.sha256 ? await findEntry(cacheDir, (st) => st.artifactSha256 === s.sha256) : await lookupByName(cacheDir, entry.name));
      break;
    case 'oci':
      location = `${s.image} via ${s.builder ?? 'bootc-image-builder'}`;
      cached = fromCache(await lookupByName(cacheDir, entry.name));
      pinned = cached ? undefined : 'digest decided at pull time';
      break;
    case 'local': {
      const file = resolveUserPath(s.path, catalogFile);
      location = file;
      try {
        const st = await fs.stat(file);
        const h = await cachedLocalHash(cacheDir, file, st.size, st.mtimeMs);
        if (h) cached = { sha256: h.sha256, sizeBytes: h.size, cachedAt: h.hashedAt, path: file };
      } catch {
        location += ' (missing)';
      }
      break;
    }
    case 'testbed':
      location = 'built locally by the testbed builder';
      break;
  }
  let text = `${entry.name}: ${s.kind} ${location}`;
  if (pinned) text += `; ${pinned}`;
  text += cached ? `; cached${cached.version ? ` ${cached.version}` : ''} sha256 ${cached.sha256}` : s.kind === 'testbed' ? '' : '; not cached';
  return { image: entry.name, source: s.kind, location, pinned, cached, text };
}
