/**
 * CoreOS stream metadata (Fedora CoreOS, and RHCOS streams of the same schema): the stream JSON
 * names the current release, the disk URL, its sha256, signature and uncompressed sha256.
 *
 * The stream JSON itself is cached for an hour: a run that boots a cached image makes no request at
 * all (streams move every couple of weeks), and `images pull` always re-reads it.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../../core/atomic.js';
import { InfraError, InputError } from '../../core/errors.js';
import { findEntry, imagesDir, recordInIndex } from '../cache.js';
import { fetchSmall } from '../download.js';
import type { CatalogEntry } from '../catalog/schema.js';
import type { ResolvedImage, ResolveOptions } from '../provenance.js';
import { fetchArtifact } from './artifact.js';
import { fromStamp, resolveUserPath } from './common.js';

type CoreosStreamSource = Extract<CatalogEntry['source'], { kind: 'coreos-stream' }>;
export type StreamFormat = 'qcow2.xz' | 'qcow2.gz';

export const DEFAULT_STREAM_BASE = 'https://builds.coreos.fedoraproject.org/streams/';
const METADATA_MAX_AGE_MS = 60 * 60 * 1000;

export interface StreamDisk {
  release: string;
  format: StreamFormat;
  location: string;
  sha256: string;
  signature?: string;
  uncompressedSha256?: string;
}

/** `metadata-url` is either the stream JSON itself (…/stable.json) or a base it is under. */
export function streamMetadataUrl(source: CoreosStreamSource): string {
  const given = source['metadata-url'];
  if (!given) return `${DEFAULT_STREAM_BASE}${source.stream}.json`;
  if (/\.json([?#].*)?$/.test(given)) return given;
  return `${given.endsWith('/') ? given : `${given}/`}${source.stream}.json`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Pick the qemu disk out of a stream JSON: `architectures.<arch>.artifacts.qemu.release` and
 * `…formats["qcow2.xz"].disk.{location,sha256,signature,uncompressed-sha256}`.
 */
export function selectStreamDisk(doc: unknown, arch: string, format: StreamFormat | undefined, url: string): StreamDisk {
  const where = (p: string) => `stream metadata ${url}: ${p}`;
  const archs = isRecord(doc) && isRecord(doc.architectures) ? doc.architectures : undefined;
  if (!archs) throw new InfraError(`${where('.architectures')} is missing; is this a CoreOS stream JSON?`, 'image');
  const a = archs[arch];
  if (!isRecord(a)) throw new InfraError(`${where(`.architectures.${arch}`)} is missing (architectures present: ${Object.keys(archs).join(', ') || 'none'})`, 'image');
  const qemu = isRecord(a.artifacts) && isRecord(a.artifacts.qemu) ? a.artifacts.qemu : undefined;
  if (!qemu) throw new InfraError(`${where(`.architectures.${arch}.artifacts.qemu`)} is missing`, 'image');
  const formats = isRecord(qemu.formats) ? qemu.formats : {};
  const chosen: StreamFormat | undefined = format ?? (['qcow2.xz', 'qcow2.gz'] as const).find((f) => f in formats);
  const disk = chosen && isRecord(formats[chosen]) ? (formats[chosen] as Record<string, unknown>).disk : undefined;
  if (!chosen || !isRecord(disk)) {
    throw new InfraError(`${where(`.architectures.${arch}.artifacts.qemu.formats["${format ?? 'qcow2.xz'}"].disk`)} is missing (formats present: ${Object.keys(formats).join(', ') || 'none'})`, 'image');
  }
  const str = (k: string): string | undefined => (typeof disk[k] === 'string' ? (disk[k] as string) : undefined);
  const location = str('location');
  const sha256 = str('sha256');
  const base = `.architectures.${arch}.artifacts.qemu.formats["${chosen}"].disk`;
  if (!location || !/^https?:\/\//.test(location)) throw new InfraError(`${where(`${base}.location`)} is missing or not an http(s) URL`, 'image');
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) throw new InfraError(`${where(`${base}.sha256`)} is missing or not a sha256`, 'image');
  const uncompressed = str('uncompressed-sha256');
  const release = typeof qemu.release === 'string' ? qemu.release : undefined;
  if (!release) throw new InfraError(`${where(`.architectures.${arch}.artifacts.qemu.release`)} is missing`, 'image');
  return { release, format: chosen, location, sha256, signature: str('signature'), uncompressedSha256: uncompressed && /^[0-9a-f]{64}$/.test(uncompressed) ? uncompressed : undefined };
}

interface CachedMetadata {
  url: string;
  fetchedAt: string;
  body: unknown;
}

function metadataCacheFile(cacheDir: string, url: string): string {
  return path.join(imagesDir(cacheDir), 'streams', `${createHash('sha256').update(url).digest('hex').slice(0, 24)}.json`);
}

export async function readCachedMetadata(cacheDir: string, url: string): Promise<CachedMetadata | null> {
  try {
    const m = JSON.parse(await fs.readFile(metadataCacheFile(cacheDir, url), 'utf8')) as CachedMetadata;
    return m.url === url ? m : null;
  } catch {
    return null;
  }
}

async function streamMetadata(url: string, opts: ResolveOptions): Promise<unknown> {
  if (!opts.refreshMetadata && !opts.force) {
    const cached = await readCachedMetadata(opts.cacheDir, url);
    if (cached && Date.now() - Date.parse(cached.fetchedAt) < METADATA_MAX_AGE_MS) return cached.body;
  }
  const raw = await fetchSmall(url, 'CoreOS stream metadata', opts.signal);
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new InfraError(`stream metadata ${url} is not JSON: ${(err as Error).message}`, 'image');
  }
  await writeJsonAtomic(metadataCacheFile(opts.cacheDir, url), { url, fetchedAt: new Date().toISOString(), body } satisfies CachedMetadata);
  return body;
}

export async function resolveCoreosStream(entry: CatalogEntry, source: CoreosStreamSource, opts: ResolveOptions): Promise<ResolvedImage> {
  const url = streamMetadataUrl(source);
  const disk = selectStreamDisk(await streamMetadata(url, opts), entry.arch ?? 'x86_64', source.format, url);
  const label = `${entry.name} ${disk.release} (${disk.format})`;
  if (!opts.force) {
    const hit = await findEntry(opts.cacheDir, (s) => s.artifactSha256 === disk.sha256, { verify: opts.verifyCache, signal: opts.signal });
    if (hit) {
      await recordInIndex(opts.cacheDir, entry.name, hit);
      opts.log?.(`${label}: cache hit ${hit.file}`);
      return fromStamp(entry, hit, opts, true);
    }
  }
  const keyring = source.keyring ? resolveUserPath(source.keyring, opts.catalogFile) : undefined;
  if (keyring && !existsSync(keyring)) {
    throw new InputError(`image '${entry.name}': the keyring ${keyring} (source.keyring${opts.catalogFile ? ` in ${opts.catalogFile}` : ''}) does not exist; for Fedora CoreOS, download https://fedoraproject.org/fedora.gpg there`);
  }
  if (keyring && !disk.signature) {
    throw new InfraError(`${label}: the catalog entry names a keyring but the stream metadata ${url} has no signature URL for the disk`, 'image');
  }
  const stamp = await fetchArtifact(
    {
      image: entry.name,
      source: 'coreos-stream',
      url: disk.location,
      label,
      sha256: disk.sha256,
      uncompressedSha256: disk.uncompressedSha256,
      signatureUrl: disk.signature,
      keyring,
      stream: source.stream,
      version: disk.release,
      expectFormat: 'qcow2',
    },
    opts,
  );
  return fromStamp(entry, stamp, opts, false);
}
