/**
 * The nightly's fan-out, computed from the plan: reads what `--dry-run --json` printed and writes
 * GitHub Actions step outputs (key=value lines) naming how many shards to run and each shard's
 * estimated load. The runners then slice with `--shard i/n`, which deals the same runs the same way.
 *
 *   node --import tsx harness/ci/shard-matrix.ts PLAN.json [--budget SECONDS] [--max N]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { partition, shardCount } from '../run/shard.js';

export interface PlannedRun {
  id: string;
  estimatedCost: number;
}

export interface ShardMatrix {
  count: number;
  /** 1..count, the values of the workflow's `shard` matrix axis. */
  shards: number[];
  /** Estimated seconds per shard, in shard order. */
  loads: number[];
}

/** The runs in a `--dry-run --json` document; anything else is a clear error, not a guess. */
export function parsePlan(text: string, where: string): PlannedRun[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: not JSON (${(err as Error).message}); expected the output of --dry-run --json`);
  }
  if (!Array.isArray(doc)) throw new Error(`${where}: expected an array of runs (the output of --dry-run --json)`);
  return doc.map((run: unknown, i) => {
    const r = run as { id?: unknown; estimatedCost?: unknown };
    if (typeof r?.id !== 'string' || typeof r.estimatedCost !== 'number') throw new Error(`${where}: run ${i} has no string id and numeric estimatedCost`);
    return { id: r.id, estimatedCost: r.estimatedCost };
  });
}

export function shardMatrix(runs: PlannedRun[], budget: number, max: number): ShardMatrix {
  const count = shardCount(runs.map((r) => r.estimatedCost), budget, max);
  const loads = partition(runs, count, (r) => r.estimatedCost).map((s) => s.reduce((sum, r) => sum + r.estimatedCost, 0));
  return { count, shards: Array.from({ length: count }, (_, i) => i + 1), loads };
}

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { budget: { type: 'string', default: '3600' }, max: { type: 'string', default: '8' } } });
  const file = positionals[0];
  const budget = Number(values.budget);
  const max = Number(values.max);
  if (!file || !(budget > 0) || !Number.isInteger(max) || max < 1) {
    process.stderr.write('usage: shard-matrix PLAN.json [--budget SECONDS > 0] [--max N >= 1]\n');
    return 2;
  }
  try {
    const m = shardMatrix(parsePlan(readFileSync(file, 'utf8'), file), budget, max);
    process.stdout.write(`count=${m.count}\nshards=${JSON.stringify(m.shards)}\nloads=${JSON.stringify(m.loads)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`shard-matrix: ${(err as Error).message}\n`);
    return 2;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main(process.argv.slice(2));
