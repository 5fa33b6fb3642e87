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

/**
 * What a duration may be, wherever one is written (scenario and step timeouts, waits, intervals):
 * below 100 ms nothing in a VM has happened yet, and beyond a day a run has long stopped being a
 * test (and Node timers overflow at 24.8 days).
 */
export const DURATION_MIN_MS = 100;
export const DURATION_MAX_MS = 24 * 3_600_000;

/**
 * What a size may be, by the key it is written under: a guest below 128 MiB cannot boot the images
 * bootpath runs, and the upper bounds are what QEMU and qcow2 handle on a real host.
 */
export const SIZE_BOUNDS_MIB: Record<string, { min: number; max: number }> = {
  memory: { min: 128, max: 1024 * 1024 },
  disk: { min: 1024, max: 16 * 1024 * 1024 },
};
const DEFAULT_SIZE_BOUNDS_MIB = { min: 1, max: 16 * 1024 * 1024 };

function formatMiB(mib: number): string {
  if (mib >= 1024 * 1024 && mib % (1024 * 1024) === 0) return `${mib / (1024 * 1024)}TiB`;
  if (mib >= 1024 && mib % 1024 === 0) return `${mib / 1024}GiB`;
  return `${mib}MiB`;
}

function shown(value: string | number): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(value.trim());
}

/** Why `value` (already of duration syntax) is out of bounds, or null. */
export function durationProblem(value: string | number): string | null {
  const ms = typeof value === 'number' ? value * 1000 : parseDurationMs(value);
  if (Number.isFinite(ms) && ms >= DURATION_MIN_MS && ms <= DURATION_MAX_MS) return null;
  return `duration ${shown(value)}${typeof value === 'number' ? ' (seconds)' : ''} is out of range: must be at least ${formatDuration(DURATION_MIN_MS)} and at most ${DURATION_MAX_MS / 3_600_000}h`;
}

/** Why `value` (already of size syntax), written under `key`, is out of bounds, or null. */
export function sizeProblem(value: string | number, key: string | number | undefined): string | null {
  const bounds = (typeof key === 'string' ? SIZE_BOUNDS_MIB[key] : undefined) ?? DEFAULT_SIZE_BOUNDS_MIB;
  // Exact MiB, before parseSizeMiB rounds up: "1K" is not 1 MiB of memory.
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|TiB|K|M|G|T)\s*$/.exec(value) : null;
  const mib = typeof value === 'number' ? value : m ? Number(m[1]) * SIZE_UNITS_MIB[m[2]!]! : NaN;
  if (Number.isFinite(mib) && mib >= bounds.min && mib <= bounds.max) return null;
  const what = typeof key === 'string' && SIZE_BOUNDS_MIB[key] ? `${key} ` : 'size ';
  return `${what}${shown(value)}${typeof value === 'number' ? ' (MiB)' : ''} is out of range: must be at least ${formatMiB(bounds.min)} and at most ${formatMiB(bounds.max)}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}
