import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InfraError } from '../core/errors.js';
import { runChecked } from './exec.js';

/**
 * qcow2 overlays over cached base disks. The base is only ever a backing file: QEMU opens backing
 * files read-only, so every write of a machine lands in its overlay in the run dir.
 */

export interface ImageInfo {
  filename: string;
  format: string;
  virtualSize: number;
  actualSize?: number;
  backingFilename?: string;
  backingFormat?: string;
}

const GiB = 1024 ** 3;

/** Parse `qemu-img info --output=json` (only the fields bootpath uses). */
export function parseImageInfo(json: string): ImageInfo {
  const raw = JSON.parse(json) as Record<string, unknown>;
  const info: ImageInfo = {
    filename: String(raw['filename']),
    format: String(raw['format']),
    virtualSize: Number(raw['virtual-size']),
  };
  if (typeof raw['actual-size'] === 'number') info.actualSize = raw['actual-size'];
  if (typeof raw['backing-filename'] === 'string') info.backingFilename = raw['backing-filename'];
  if (typeof raw['backing-filename-format'] === 'string') info.backingFormat = raw['backing-filename-format'];
  return info;
}

export async function imageInfo(file: string): Promise<ImageInfo> {
  // -U (force-share): works while a running QEMU holds the image lock.
  const res = await runChecked('qemu-img', ['info', '-U', '--output=json', file], { timeoutMs: 30_000 });
  return parseImageInfo(res.stdout);
}

export interface OverlayOptions {
  base: string;
  baseFormat: 'qcow2' | 'raw';
  overlay: string;
  /** Grow the overlay to this size when it is larger than the base's virtual size. */
  sizeGiB?: number;
}

/** argv for `qemu-img create` of an overlay (pure, for tests). The backing path must be absolute. */
export function overlayCreateArgs(opts: OverlayOptions, sizeBytes?: number): string[] {
  if (!path.isAbsolute(opts.base)) throw new Error(`overlay backing path must be absolute, got ${opts.base}`);
  const args = ['create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', '-b', opts.base, '-F', opts.baseFormat, opts.overlay];
  if (sizeBytes !== undefined) args.push(String(sizeBytes));
  return args;
}

/**
 * Create `overlay` backed by `base`. A relative base is resolved to an absolute path first
 * (qemu-img would resolve it relative to the overlay's directory — testbed spike pitfall 11).
 */
export async function createOverlay(opts: OverlayOptions): Promise<ImageInfo> {
  const base = await fs.realpath(opts.base).catch(() => {
    throw new InfraError(`base disk ${opts.base} does not exist; fetch the image again`, 'image');
  });
  const baseInfo = await imageInfo(base);
  if (baseInfo.format !== opts.baseFormat) {
    throw new InfraError(`base disk ${base} is ${baseInfo.format}, but the catalog says ${opts.baseFormat}`, 'image');
  }
  const wanted = opts.sizeGiB !== undefined ? Math.round(opts.sizeGiB * GiB) : undefined;
  const size = wanted !== undefined && wanted > baseInfo.virtualSize ? wanted : undefined;
  await fs.mkdir(path.dirname(opts.overlay), { recursive: true });
  await fs.rm(opts.overlay, { force: true });
  await runChecked('qemu-img', overlayCreateArgs({ ...opts, base }, size), { timeoutMs: 60_000 });
  return imageInfo(opts.overlay);
}

/** A blank qcow2 disk (extra disks of a machine). */
export async function createBlankDisk(file: string, sizeGiB: number): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', file, String(Math.round(sizeGiB * GiB))], { timeoutMs: 60_000 });
}
