/**
 * HTTP downloads for image artifacts: streamed to a `.part` file while hashing, resumed with a Range
 * request after an interruption (a multi-GB image over a flaky laptop connection must not restart
 * from zero), verified against the expected sha256 before anyone may use it.
 *
 * The `.part` file is the only thing written here; the caller renames or decompresses it once it is
 * verified, so a file at its final name is always a verified one.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InfraError, InterruptedError, errorMessage } from '../core/errors.js';
import { ProgressMeter, type ProgressSink } from './progress.js';

const USER_AGENT = 'bootpath (+https://github.com/bootpath)';

export interface DownloadOptions {
  url: string;
  partFile: string;
  /** Shown in progress and errors, e.g. "fcos-stable 42.20250803.3.0 (qcow2.xz)". */
  label: string;
  /** When given, a mismatch deletes the part file and fails naming both hashes. */
  expectedSha256?: string;
  progress?: ProgressSink;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Tries in all, counting the first (default 4). Each retry resumes where the last one stopped. */
  attempts?: number;
  retryDelayMs?: number;
}

export interface DownloadResult {
  sha256: string;
  bytes: number;
  /** Bytes that were already on disk and kept thanks to a 206 response (0: a full download). */
  resumedFrom: number;
}

/** A failure worth retrying (connection cut, 5xx); anything else is final. */
class RetryableError extends Error {}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return 0;
  }
}

async function hashPrefix(file: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function parseContentRange(value: string | null): { start: number; total?: number } | null {
  const m = value ? /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(value.trim()) : null;
  if (!m) return null;
  return { start: Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) };
}

function abortedError(signal: AbortSignal | undefined): InterruptedError | undefined {
  return signal?.aborted ? new InterruptedError('abort') : undefined;
}

/** One GET, resuming from whatever `.part` already holds. Returns the total bytes on disk. */
async function attempt(opts: DownloadOptions, hash: () => Hash): Promise<{ bytes: number; resumedFrom: number; digest: string }> {
  const have = await sizeOf(opts.partFile);
  const headers: Record<string, string> = { 'user-agent': USER_AGENT };
  if (have > 0) headers.range = `bytes=${have}-`;
  let res: Response;
  try {
    res = await fetch(opts.url, { headers, signal: opts.signal, redirect: 'follow' });
  } catch (err) {
    throw abortedError(opts.signal) ?? new RetryableError(`cannot reach ${opts.url}: ${errorMessage(causeOf(err))}`);
  }
  let start = 0;
  let total: number | undefined;
  if (res.status === 206) {
    const range = parseContentRange(res.headers.get('content-range'));
    if (!range || range.start !== have) {
      await res.body?.cancel();
      await fs.rm(opts.partFile, { force: true });
      throw new RetryableError(`server answered the resume of ${opts.url} with an unexpected Content-Range '${res.headers.get('content-range') ?? ''}'; starting over`);
    }
    start = have;
    total = range.total;
    opts.log?.(`resuming ${opts.label} at ${have} bytes`);
  } else if (res.status === 200) {
    if (have > 0) opts.log?.(`server ignored the Range request for ${opts.label}; downloading it again from the start`);
    const len = Number(res.headers.get('content-length'));
    total = Number.isFinite(len) && len > 0 ? len : undefined;
  } else if (res.status === 416 && have > 0) {
    // The part is as long as (or longer than) the file: it cannot be resumed, start over.
    await res.body?.cancel();
    await fs.rm(opts.partFile, { force: true });
    throw new RetryableError(`server refused to resume ${opts.url} at byte ${have} (416); starting over`);
  } else {
    await res.body?.cancel();
    const message = `downloading ${opts.label} failed: ${opts.url} answered HTTP ${res.status} ${res.statusText}`;
    if (res.status >= 500 || res.status === 429) throw new RetryableError(message);
    throw new InfraError(`${message}. Check the URL in the catalog entry (or the stream metadata) and that you are online.`, 'image');
  }

  const h = hash();
  if (start > 0) await hashPrefix(opts.partFile, h);
  const fh = await fs.open(opts.partFile, start > 0 ? 'a' : 'w');
  const meter = new ProgressMeter(opts.label, opts.progress, start, total);
  let bytes = start;
  try {
    if (res.body) {
      for await (const chunk of res.body) {
        h.update(chunk);
        await fh.write(chunk);
        bytes += chunk.byteLength;
        meter.update(bytes);
      }
    }
  } catch (err) {
    throw abortedError(opts.signal) ?? new RetryableError(`connection to ${new URL(opts.url).host} broke after ${bytes} bytes: ${errorMessage(causeOf(err))}`);
  } finally {
    await fh.close();
  }
  if (total !== undefined && bytes !== total) throw new RetryableError(`download of ${opts.label} ended at ${bytes} of ${total} bytes`);
  meter.update(bytes, true);
  return { bytes, resumedFrom: start, digest: h.digest('hex') };
}

function causeOf(err: unknown): unknown {
  return err instanceof Error && err.cause instanceof Error ? err.cause : err;
}

/**
 * Download `url` into `partFile`, resuming an existing part. Retries connection failures and 5xx
 * answers with a Range request from where the last try stopped.
 */
export async function downloadToPart(opts: DownloadOptions): Promise<DownloadResult> {
  await fs.mkdir(path.dirname(opts.partFile), { recursive: true });
  const attempts = opts.attempts ?? 4;
  let lastError: Error | undefined;
  let resumedFrom = 0;
  for (let i = 1; i <= attempts; i++) {
    try {
      const r = await attempt(opts, () => createHash('sha256'));
      resumedFrom = Math.max(resumedFrom, r.resumedFrom);
      if (opts.expectedSha256 && r.digest !== opts.expectedSha256) {
        await fs.rm(opts.partFile, { force: true });
        throw new InfraError(
          `checksum mismatch for ${opts.label} from ${opts.url}: expected sha256 ${opts.expectedSha256}, found ${r.digest}. ` +
            'The download was deleted and will not be booted; retry, and if it persists the mirror or the pinned checksum is wrong.',
          'image',
        );
      }
      return { sha256: r.digest, bytes: r.bytes, resumedFrom };
    } catch (err) {
      if (!(err instanceof RetryableError)) throw err;
      lastError = err;
      if (i < attempts) {
        opts.log?.(`${err.message}; retrying (${i + 1}/${attempts})`);
        try {
          await sleep((opts.retryDelayMs ?? 1000) * 2 ** (i - 1), undefined, { signal: opts.signal });
        } catch {
          throw new InterruptedError('abort');
        }
      }
    }
  }
  throw new InfraError(`downloading ${opts.label} failed after ${attempts} tries: ${lastError?.message ?? 'unknown error'}. The partial file is kept and the next pull resumes it.`, 'image');
}

/** GET a small text document (stream metadata, a signature), with a clear error. */
export async function fetchSmall(url: string, what: string, signal?: AbortSignal): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { 'user-agent': USER_AGENT }, signal, redirect: 'follow' });
  } catch (err) {
    if (signal?.aborted) throw new InterruptedError('abort');
    throw new InfraError(`cannot fetch ${what} from ${url}: ${errorMessage(causeOf(err))}. Are you online? With a cached image, --offline skips this.`, 'image');
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new InfraError(`cannot fetch ${what}: ${url} answered HTTP ${res.status} ${res.statusText}`, 'image');
  }
  return Buffer.from(await res.arrayBuffer());
}

