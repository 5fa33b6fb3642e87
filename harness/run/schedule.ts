/**
 * The order in which runs are handed to the worker pool. With N runs at once, the run that starts
 * last decides when the whole set ends; starting the longest runs first (LPT scheduling) keeps the
 * tail short. Durations are not known before a run, but under every accelerator they are
 * dominated by guest boots, then by tool calls that write deployments, so the plan itself gives a
 * good relative estimate. The estimate is deterministic: the same plans always run in the same
 * order, which keeps runs reproducible and --shard slices stable.
 */
import type { PlannedStep, RunPlan } from '../scenario/plan.js';
import { kindModule, type StepKind } from '../steps/registry.js';
import { WEIGHTS } from '../steps/types.js';

/** A step's weight, from its kind (harness/steps/<kind>.ts). */
function stepWeight<K extends StepKind>(step: PlannedStep<K>): number {
  return kindModule<K>(step.kind).weight(step.def);
}

/** Estimated cost of a run: one boot per machine, then its steps. */
export function estimatedCost(plan: RunPlan): number {
  return plan.machines.length * WEIGHTS.boot + plan.steps.reduce((sum, s) => sum + stepWeight(s), 0);
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
