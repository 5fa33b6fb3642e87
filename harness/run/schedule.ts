/**
 * The order in which runs are handed to the worker pool. With N runs at once, the run that starts
 * last decides when the whole set ends; starting the longest runs first (LPT scheduling) keeps the
 * tail short. Durations are not known before a run, but under every accelerator they are
 * dominated by guest boots, then by tool calls that write deployments, so the plan itself gives a
 * good relative estimate. The estimate is deterministic: the same plans always run in the same
 * order, which keeps runs reproducible and --shard slices stable.
 */
import type { PlannedStep, RunPlan } from '../scenario/plan.js';

/** Relative weights in nominal seconds under TCG (README "Performance": boot ≈ 45–60 s, a deployment-writing tool call ≈ 10–25 s). */
const BOOT_WEIGHT = 55;
const TOOL_WEIGHT = 15;
const OTHER_WEIGHT = 1;

function stepWeight(step: PlannedStep): number {
  switch (step.kind) {
    case 'reboot':
      return BOOT_WEIGHT;
    case 'rpm-ostree':
    case 'bootc':
    case 'update':
      return TOOL_WEIGHT;
    default:
      return OTHER_WEIGHT;
  }
}

/** Estimated cost of a run: one boot per machine, then its steps. */
export function estimatedCost(plan: RunPlan): number {
  return plan.machines.length * BOOT_WEIGHT + plan.steps.reduce((sum, s) => sum + stepWeight(s), 0);
}

/**
 * Longest estimated run first when runs overlap; the given order (scenario files, then matrix
 * cells) when they run one at a time, where order changes nothing but readability.
 */
export function scheduleOrder(plans: RunPlan[], parallel: number): RunPlan[] {
  if (parallel <= 1) return plans;
  return plans
    .map((plan, index) => ({ plan, index, cost: estimatedCost(plan) }))
    .sort((a, b) => b.cost - a.cost || a.index - b.index)
    .map((x) => x.plan);
}
