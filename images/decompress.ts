/**
 * Streaming decompression of a downloaded artifact into a disk file, hashing what comes out so the
 * uncompressed sha256 is known without reading the multi-GB result a second time.
 *
 * xz and zstd go through their command-line tools (multi-threaded, and Node has no xz); gzip uses
 * Node's zlib.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { HostNotCapableError, InfraError, InterruptedError, errorMessage } from '../core/errors.js';

export type Compression = 'xz' | 'gz' | 'zst' | 'none';

/** The compression a file name says it has (`.xz`, `.gz`, `.zst`), or 'none'. */
export function compressionOf(name: string): Compression {
  const base = name.replace(/[?#].*$/, '');
  if (base.endsWith('.xz')) return 'xz';
  if (base.endsWith('.gz')) return 'gz';
  if (base.endsWith('.zst') || base.endsWith('.zstd')) return 'zst';
  return 'none';
}

const TOOL: Record<'xz' | 'zst', { cmd: string; pkg: string }> = {
  xz: { cmd: 'xz', pkg: 'xz-utils' },
  zst: { cmd: 'zstd', pkg: 'zstd' },
};

export interface DecompressResult {
  sha256: string;
  bytes: number;
}

/** Decompress `input` into `output` (overwritten). */
export async function decompressTo(input: string, output: string, compression: Compression, signal?: AbortSignal): Promise<DecompressResult> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const out = createWriteStream(output);
  try {
    if (compression === 'xz' || compression === 'zst') {
      await viaTool(TOOL[compression], input, [tap, out], signal);
    } else {
      const source: Readable = createReadStream(input);
      if (compression === 'gz') await pipeline(source, createGunzip(), tap, out, { signal });
      else await pipeline(source, tap, out, { signal });
    }
  } catch (err) {
    if (signal?.aborted) throw new InterruptedError('abort');
    if (err instanceof HostNotCapableError || err instanceof InfraError) throw err;
    throw new InfraError(`cannot decompress ${input} (${compression}): ${errorMessage(err)}. The download is corrupt or not ${compression}-compressed.`, 'image');
  }
  return { sha256: hash.digest('hex'), bytes };
}

async function viaTool(tool: { cmd: string; pkg: string }, input: string, sinks: [Transform, NodeJS.WritableStream], signal?: AbortSignal): Promise<void> {
  const child = spawn(tool.cmd, ['-dc', '--', input], { stdio: ['ignore', 'pipe', 'pipe'], signal });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') reject(new HostNotCapableError(`${tool.cmd} is needed to decompress ${input} but was not found`, `apt-get install ${tool.pkg} (Debian/Ubuntu) or dnf install ${tool.pkg === 'xz-utils' ? 'xz' : tool.pkg} (Fedora)`));
      else reject(err);
    });
    child.once('close', (code) => resolve(code));
  });
  // Ensure the exit promise has a handler even if the pipeline fails first.
  exit.catch(() => {});
  try {
    await pipeline(child.stdout, sinks[0], sinks[1]);
  } catch (err) {
    child.kill('SIGKILL');
    await exit.catch(() => null);
    throw err;
  }
  const code = await exit;
  if (code !== 0) throw new InfraError(`${tool.cmd} -dc ${input} failed (exit ${String(code)}): ${stderr.trim() || 'no output'}. The download is corrupt.`, 'image');
}
