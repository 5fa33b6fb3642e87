/**
 * The pipeline every downloaded image goes through, in an order that never lets an unverified byte
 * reach a disk name: download to a `.part` (resumable) while hashing -> compare with the pinned
 * sha256 -> check the detached signature -> decompress to a temp `.part` while hashing -> compare
 * with the uncompressed sha256 -> `qemu-img info` -> rename into the cache under its content hash.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InfraError } from '../../core/errors.js';
import { commitDisk, downloadsDir, tmpDir, type CacheStamp, type DiskFormat } from '../cache.js';
import { compressionOf, decompressTo } from '../decompress.js';
import { downloadToPart, fetchSmall } from '../download.js';
import { qemuImgInfo } from '../qemu-img.js';
import { verifyDetachedSignature } from '../signature.js';
import type { ResolveOptions } from '../provenance.js';

export interface ArtifactSpec {
  image: string;
  source: string;
  url: string;
  /** For progress and errors. */
  label: string;
  sha256?: string;
  uncompressedSha256?: string;
  /** Detached signature URL and the keyring to check it with (both, or no signature check). */
  signatureUrl?: string;
  keyring?: string;
  stream?: string;
  version?: string;
  /** The disk format the source promises; undefined accepts qcow2 or raw as qemu-img sees it. */
  expectFormat?: DiskFormat;
}

function partName(spec: ArtifactSpec): string {
  // Stable across processes and retries, so a later pull resumes the same part file.
  const id = spec.sha256 ?? createHash('sha256').update(spec.url).digest('hex');
  const base = path.basename(new URL(spec.url).pathname).replace(/[^A-Za-z0-9._-]/g, '_') || 'artifact';
  return `${id.slice(0, 32)}-${base}.part`;
}

export async function fetchArtifact(spec: ArtifactSpec, opts: ResolveOptions): Promise<CacheStamp> {
  const log = opts.log ?? (() => {});
  const partFile = path.join(downloadsDir(opts.cacheDir), partName(spec));
  log(`downloading ${spec.label} from ${spec.url}`);
  const dl = await downloadToPart({ url: spec.url, partFile, label: spec.label, expectedSha256: spec.sha256, progress: opts.progress, log, signal: opts.signal });

  let signature: CacheStamp['signature'] = 'not-configured';
  if (spec.keyring && spec.signatureUrl) {
    const sigFile = `${partFile}.sig`;
    await fs.writeFile(sigFile, await fetchSmall(spec.signatureUrl, `the signature of ${spec.label}`, opts.signal));
    try {
      await verifyDetachedSignature(partFile, sigFile, spec.keyring, `${spec.label} (${spec.url}, signature ${spec.signatureUrl})`);
    } catch (err) {
      await fs.rm(partFile, { force: true });
      throw err;
    } finally {
      await fs.rm(sigFile, { force: true });
    }
    signature = 'verified';
    log(`signature of ${spec.label} verified with ${spec.keyring}`);
  }

  await fs.mkdir(tmpDir(opts.cacheDir), { recursive: true });
  const tmp = path.join(tmpDir(opts.cacheDir), `${process.pid}-${randomBytes(4).toString('hex')}.part`);
  try {
    const compression = compressionOf(new URL(spec.url).pathname);
    const out = await decompressTo(partFile, tmp, compression, opts.signal);
    if (spec.uncompressedSha256 && out.sha256 !== spec.uncompressedSha256) {
      await fs.rm(partFile, { force: true });
      throw new InfraError(
        `checksum mismatch for ${spec.label} after decompressing: expected uncompressed sha256 ${spec.uncompressedSha256}, found ${out.sha256}. The download was deleted and will not be booted.`,
        'image',
      );
    }
    const info = await qemuImgInfo(tmp);
    const format = info.format === 'qcow2' || info.format === 'raw' ? info.format : undefined;
    if (!format || (spec.expectFormat && format !== spec.expectFormat)) {
      await fs.rm(partFile, { force: true });
      throw new InfraError(`${spec.label} from ${spec.url} is not a ${spec.expectFormat ?? 'qcow2 or raw'} disk (qemu-img says '${info.format}'); it was deleted.`, 'image');
    }
    const stamp = await commitDisk(opts.cacheDir, tmp, out.sha256, {
      format,
      image: spec.image,
      source: spec.source,
      url: spec.url,
      stream: spec.stream,
      version: spec.version,
      artifactSha256: dl.sha256,
      artifactBytes: dl.bytes,
      signature,
    });
    await fs.rm(partFile, { force: true });
    log(`cached ${spec.label} as ${stamp.file}`);
    return stamp;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
