/**
 * `images list | pull NAME… | build NAME | prune`: look at and fill the base-image cache by hand
 * (runs resolve images on their own; this is for preparing an offline run, or cleaning up).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BootpathError, HostNotCapableError, InputError, errorMessage } from '../../../core/errors.js';
import { didYouMean } from '../../../core/did-you-mean.js';
import { cacheDir as defaultCacheDir } from '../../../core/paths.js';
import { loadCatalog, type Catalog, type CatalogImage } from '../../../images/catalog.js';
import { formatBytes, textProgress } from '../../../images/progress.js';
import { pruneCache } from '../../../images/prune.js';
import { describeProvenance, resolveImage, type ResolvedImage } from '../../../images/resolve.js';

export interface ImagesCommandOptions {
  positionals: string[];
  offline: boolean;
  verifyCache: boolean;
  insecureNoChecksum: boolean;
  force: boolean;
  json: boolean;
}

export interface ImagesIo {
  stdout(t: string): void;
  stderr(t: string): void;
  isTTY: boolean;
}

const SUBCOMMANDS = ['list', 'pull', 'build', 'prune'] as const;

export interface ImagesContext {
  cacheDir?: string;
  catalog?: Catalog;
}

export async function imagesCommand(opts: ImagesCommandOptions, io: ImagesIo, ctx: ImagesContext = {}): Promise<number> {
  const [sub = 'list', ...names] = opts.positionals;
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
    const hint = didYouMean(sub, SUBCOMMANDS);
    throw new InputError(`unknown images subcommand '${sub}'${hint ? ` (did you mean '${hint}'?)` : ''}; expected one of: ${SUBCOMMANDS.join(', ')}`);
  }
  const catalog = ctx.catalog ?? (await loadCatalog());
  const cache = ctx.cacheDir ?? defaultCacheDir();
  switch (sub) {
    case 'list':
      return listImages(catalog, cache, opts.json, io);
    case 'prune':
      return prune(catalog, cache, opts.json, io);
    case 'pull':
    case 'build':
      return fetchImages(sub, names, catalog, cache, opts, io);
  }
  return 0;
}

function pick(catalog: Catalog, names: string[], sub: string): CatalogImage[] {
  if (names.length === 0) throw new InputError(`images ${sub} needs at least one image name; known images: ${[...catalog.keys()].join(', ')}`);
  return names.map((n) => {
    const img = catalog.get(n);
    if (img) return img;
    const hint = didYouMean(n, [...catalog.keys()]);
    throw new InputError(`unknown image '${n}'${hint ? ` (did you mean '${hint}'?)` : ''}; known images: ${[...catalog.keys()].join(', ')}. Run 'npm run scenario -- images list'.`);
  });
}

function age(iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

async function testbedCached(cache: string): Promise<boolean> {
  const { testbedInputsKey } = await import('../../../images/testbed/builder.js');
  return existsSync(path.join(cache, 'testbed', await testbedInputsKey()));
}

interface ImageRow {
  name: string;
  source: string;
  manages: string[];
  state: string;
  cached: Awaited<ReturnType<typeof describeProvenance>>['cached'];
  location: string;
}

async function listImages(catalog: Catalog, cache: string, json: boolean, io: ImagesIo): Promise<number> {
  const rows: ImageRow[] = [];
  for (const { entry, file } of catalog.values()) {
    const p = await describeProvenance(entry, cache, file);
    let state = p.cached ? `cached ${p.cached.version ?? p.cached.sha256.slice(0, 12)}, ${formatBytes(p.cached.sizeBytes)}, ${age(p.cached.cachedAt)}` : 'not cached';
    if (entry.source.kind === 'testbed') state = (await testbedCached(cache)) ? 'built (current inputs)' : 'not built';
    rows.push({ name: entry.name, source: entry.source.kind, manages: entry.manages, state, cached: p.cached, location: p.location });
  }
  if (json) {
    io.stdout(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  const w = (k: (r: ImageRow) => string, min: number) => Math.max(min, ...rows.map((r) => k(r).length));
  const wn = w((r) => r.name, 4);
  const ws = w((r) => r.source, 6);
  const wm = w((r) => r.manages.join(','), 7);
  io.stdout(`${'NAME'.padEnd(wn)}  ${'SOURCE'.padEnd(ws)}  ${'MANAGES'.padEnd(wm)}  CACHE\n`);
  for (const r of rows) io.stdout(`${r.name.padEnd(wn)}  ${r.source.padEnd(ws)}  ${r.manages.join(',').padEnd(wm)}  ${r.state}\n`);
  io.stdout(`cache: ${cache}\n`);
  return 0;
}

async function fetchImages(sub: 'pull' | 'build', names: string[], catalog: Catalog, cache: string, opts: ImagesCommandOptions, io: ImagesIo): Promise<number> {
  const images = pick(catalog, names, sub);
  if (sub === 'build') {
    for (const { entry } of images) {
      if (entry.source.kind !== 'testbed' && entry.source.kind !== 'oci') {
        throw new InputError(`images build makes disks from testbed or oci sources; '${entry.name}' is a ${entry.source.kind} image — use 'npm run scenario -- images pull ${entry.name}'`);
      }
    }
  }
  // On a TTY the progress line is redrawn in place: clear it before a log line.
  const log = (line: string) => io.stderr(`${io.isTTY ? '\r\x1b[2K' : ''}${line}\n`);
  const progress = textProgress(io.stderr, io.isTTY);
  const done: ResolvedImage[] = [];
  let exit = 0;
  for (const { entry, file } of images) {
    try {
      const r = await resolveImage(entry, {
        cacheDir: cache,
        offline: opts.offline,
        verifyCache: opts.verifyCache,
        insecureNoChecksum: opts.insecureNoChecksum,
        refreshMetadata: true,
        force: opts.force,
        log,
        progress,
        catalogFile: file,
      });
      done.push(r);
      if (!opts.json) {
        const p = r.provenance;
        io.stdout(`${r.name}: ${p.cacheHit ? 'already cached' : sub === 'build' ? 'built' : 'downloaded and verified'}${p.version ? ` ${p.version}` : ''}${p.uncompressedSha256 ? ` sha256 ${p.uncompressedSha256}` : ''}${p.signature === 'verified' ? ', signature verified' : ''}\n  ${r.diskPath}\n`);
      }
    } catch (err) {
      if (!(err instanceof BootpathError)) throw err;
      const text = err instanceof InputError ? err.render() : err.message;
      io.stderr(`images ${sub} ${entry.name} failed: ${text}\n${err instanceof HostNotCapableError ? `  remedy: ${err.remedy}\n` : ''}`);
      if (exit === 0) exit = err.exitCode;
    }
  }
  if (opts.json) io.stdout(JSON.stringify(done, null, 2) + '\n');
  return exit;
}

async function prune(catalog: Catalog, cache: string, json: boolean, io: ImagesIo): Promise<number> {
  let report;
  try {
    report = await pruneCache(cache, [...catalog.values()].map((c) => c.entry));
  } catch (err) {
    if (err instanceof BootpathError) throw err;
    throw new BootpathError(`images prune failed in ${cache}: ${errorMessage(err)}`, 1);
  }
  if (json) {
    io.stdout(JSON.stringify(report, null, 2) + '\n');
    return 0;
  }
  for (const r of report.removed) io.stdout(`removed ${r.path} (${formatBytes(r.bytes)}): ${r.reason}\n`);
  for (const k of report.kept) io.stdout(`kept ${k}\n`);
  io.stdout(`${report.removed.length === 0 ? 'nothing to prune' : `freed ${formatBytes(report.bytesFreed)}`} in ${cache}\n`);
  return 0;
}
