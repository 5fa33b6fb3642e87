/** Durations and sizes as scenario authors write them ("90s", "2GiB"); validated by the schema first. */

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS_MIB: Record<string, number> = { K: 1 / 1024, KiB: 1 / 1024, M: 1, MiB: 1, G: 1024, GiB: 1024, T: 1024 * 1024, TiB: 1024 * 1024 };

/** A duration in milliseconds. Numbers are seconds. */
export function parseDurationMs(value: string | number): number {
  if (typeof value === 'number') return Math.round(value * 1000);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (!m) throw new Error(`not a duration: ${JSON.stringify(value)}`);
  return Math.round(Number(m[1]) * DURATION_UNITS_MS[m[2]!]!);
}

/** A size in MiB. Numbers are MiB. */
export function parseSizeMiB(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|TiB|K|M|G|T)\s*$/.exec(value);
  if (!m) throw new Error(`not a size: ${JSON.stringify(value)}`);
  return Math.ceil(Number(m[1]) * SIZE_UNITS_MIB[m[2]!]!);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}
