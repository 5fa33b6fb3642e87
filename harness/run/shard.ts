/**
 * `--shard i/n`: a deterministic slice of the expanded run list, balanced by estimated duration so
 * that the shards of a CI fan-out finish together. Every shard computes the same partition from the
 * same plans (no coordination between runners): runs are dealt longest first, each to the shard
 * with the least estimated time so far (LPT), ties broken by run id and then by shard number.
 */
import type { RunPlan } from '../scenario/plan.js';
import { estimatedCost } from './schedule.js';

export interface ShardSpec {
  index: number;
  total: number;
}

/** Every shard's items (index 0 is shard 1), each list in id order. */
export function partition<T extends { id: string }>(items: T[], total: number, cost: (item: T) => number): T[][] {
  const bins = Array.from({ length: Math.max(1, total) }, () => ({ load: 0, items: [] as T[] }));
  const dealt = items.map((item) => ({ item, cost: cost(item) })).sort((a, b) => b.cost - a.cost || a.item.id.localeCompare(b.item.id));
  for (const { item, cost: c } of dealt) {
    let target = bins[0]!;
    for (const bin of bins) if (bin.load < target.load) target = bin;
    target.load += c;
    target.items.push(item);
  }
  return bins.map((b) => b.items.sort((x, y) => x.id.localeCompare(y.id)));
}

export function partitionPlans(plans: RunPlan[], total: number, cost: (plan: RunPlan) => number = estimatedCost): RunPlan[][] {
  return partition(plans, total, cost);
}

export function shardPlans(plans: RunPlan[], shard: ShardSpec | null): RunPlan[] {
  if (!shard) return plans;
  return partitionPlans(plans, shard.total)[shard.index - 1] ?? [];
}

/**
 * How many shards a fan-out needs so that each gets at most `budget` estimated seconds: at least
 * one, at most `max`, and never more than there are runs.
 */
export function shardCount(costs: number[], budget: number, max: number): number {
  if (costs.length === 0) return 1;
  const total = costs.reduce((sum, c) => sum + c, 0);
  return Math.max(1, Math.min(max, costs.length, Math.ceil(total / Math.max(1, budget))));
}
