/**
 * What a resolved image is and where it came from. The runner records an ImageProvenance in every
 * result, so that a finding can always be traced to the exact bytes that were booted.
 */
import type { ProgressSink } from './progress.js';

export interface ImageProvenance {
  /** Catalog name. */
  image: string;
  /** Source kind: coreos-stream, url, local, oci, testbed. */
  source: string;
  url?: string;
  stream?: string;
  version?: string;
  /** sha256 of the artifact as downloaded (compressed, when it was). */
  sha256?: string;
  /** sha256 of the disk that is booted. */
  uncompressedSha256?: string;
  /** OCI image digest (oci source). */
  digest?: string;
  signature?: 'verified' | 'not-configured';
  cacheHit: boolean;
  /** When the content was last verified against its hash. */
  verifiedAt: string;
  /** Built by bootpath's testbed builder: results are testbed results, not evidence about real bootc. */
  testbed?: boolean;
}

export interface ResolvedImage {
  name: string;
  diskPath: string;
  format: 'qcow2' | 'raw';
  firmware: 'bios' | 'uefi';
  provenance: ImageProvenance;
}

export interface ResolveOptions {
  cacheDir: string;
  /** Use only the cache; fail fast naming the command that fetches the image. */
  offline?: boolean;
  /** Re-hash the cached disk and reject a mismatch. */
  verifyCache?: boolean;
  /** Allow a url source without a pinned sha256 (exploration only). */
  insecureNoChecksum?: boolean;
  /** Re-read stream metadata now instead of trusting the cached copy (images pull does). */
  refreshMetadata?: boolean;
  /** Rebuild / re-download even when cached (images build --force). */
  force?: boolean;
  log?: (line: string) => void;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** The catalog file the entry came from: relative paths (local path, keyring) are relative to it. */
  catalogFile?: string;
}

/** The command a user runs to put an image in the cache. */
export function pullCommand(name: string): string {
  return `npm run scenario -- images pull ${name}`;
}
