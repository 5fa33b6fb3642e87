/**
 * A disk at any http(s) URL, pinned by sha256. `.xz`, `.gz` and `.zst` are decompressed by
 * extension; the result may be qcow2 or raw (qemu-img decides).
 */
import { InputError } from '../../core/errors.js';
import { findEntry, recordInIndex } from '../cache.js';
import type { CatalogEntry } from '../catalog/schema.js';
import type { ResolvedImage, ResolveOptions } from '../provenance.js';
import { fetchArtifact } from './artifact.js';
import { fromStamp } from './common.js';

type UrlSource = Extract<CatalogEntry['source'], { kind: 'url' }>;

export function missingChecksumError(entry: CatalogEntry, source: UrlSource, catalogFile: string | undefined): InputError {
  return new InputError(
    `image '${entry.name}'${catalogFile ? ` (${catalogFile})` : ''} downloads ${source.url} without a pinned sha256, so bootpath cannot tell a good download from a corrupt or tampered one.\n` +
      `Pin it: add 'sha256: <64 hex digits>' under source: — take it from the publisher's checksum file (e.g. sha256sum.txt next to the image) or compute it with 'curl -L ${source.url} | sha256sum'.\n` +
      `A user catalog entry in ~/.config/bootpath/images/${entry.name}.yaml overrides a shipped one. To try it unverified, pass --insecure-no-checksum.`,
  );
}

export async function resolveUrl(entry: CatalogEntry, source: UrlSource, opts: ResolveOptions): Promise<ResolvedImage> {
  if (!source.sha256 && !opts.insecureNoChecksum) throw missingChecksumError(entry, source, opts.catalogFile);
  if (!opts.force) {
    // Pinned: any entry with that artifact hash will do. Unpinned: the last download of that URL.
    const match = source.sha256 ? (s: { artifactSha256?: string }) => s.artifactSha256 === source.sha256 : (s: { url?: string; image: string }) => s.url === source.url && s.image === entry.name;
    const hit = await findEntry(opts.cacheDir, match, { verify: opts.verifyCache, signal: opts.signal });
    if (hit) {
      await recordInIndex(opts.cacheDir, entry.name, hit);
      opts.log?.(`${entry.name}: cache hit ${hit.file}`);
      return fromStamp(entry, hit, opts, true);
    }
  }
  if (!source.sha256) opts.log?.(`warning: ${entry.name}: downloading ${source.url} WITHOUT checksum verification (--insecure-no-checksum)`);
  const stamp = await fetchArtifact(
    { image: entry.name, source: 'url', url: source.url, label: entry.name, sha256: source.sha256, uncompressedSha256: source['uncompressed-sha256'] },
    opts,
  );
  return fromStamp(entry, stamp, opts, false);
}
