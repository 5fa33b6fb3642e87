/**
 * Just enough of PNG (RFC 2083) to tell a rendered page from an empty one: the header's size, and
 * the decompressed image data's length (which must match the size) and variety. No image library:
 * the check must not depend on more than Node's zlib.
 */
import { inflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Bytes per pixel by IHDR colour type, at bit depth 8. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

export interface PngFacts {
  width: number;
  height: number;
  /** Distinct byte values in the unfiltered-size image data: a blank page has a handful. */
  distinctBytes: number;
}

export function pngFacts(file: Buffer): PngFacts {
  if (!file.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG (bad signature)');
  let offset = 8;
  let width = 0;
  let height = 0;
  let bpp = 0;
  const idat: Buffer[] = [];
  while (offset < file.length) {
    const length = file.readUInt32BE(offset);
    const type = file.toString('latin1', offset + 4, offset + 8);
    const data = file.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8]!;
      const channels = CHANNELS[data[9]!];
      if (depth !== 8 || channels === undefined) throw new Error(`unsupported PNG: bit depth ${depth}, colour type ${data[9]}`);
      bpp = channels;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const expected = height * (1 + width * bpp);
  if (raw.length !== expected) throw new Error(`PNG image data is ${raw.length} bytes, expected ${expected} for ${width}×${height}`);
  const seen = new Set<number>();
  for (let i = 0; i < raw.length && seen.size < 256; i += 7) seen.add(raw[i]!);
  return { width, height, distinctBytes: seen.size };
}
