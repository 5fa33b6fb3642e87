/**
 * Executes one planned step on its machine: the kind's own run function (harness/steps/<kind>.ts)
 * with its timeout and signal, timed.
 */
import type { StepResult } from '../results/model.js';
import type { PlannedStep } from '../scenario/plan.js';
import { kindModule, type StepKind } from '../steps/registry.js';
import type { StepContext, StepEnv, StepOutcome } from '../steps/types.js';
import { stepTimeoutMs } from './timeouts.js';

export type { StepEnv, StepOutcome } from '../steps/types.js';

export async function executeStep(step: PlannedStep, env: StepEnv): Promise<StepOutcome> {
  const started = Date.now();
  const base: StepResult = {
    index: step.index,
    label: step.label,
    kind: step.kind,
    machine: step.machine,
    status: 'passed',
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
  };
  const machine = env.machines.get(step.machine);
  if (!machine) throw new Error(`internal: no machine '${step.machine}'`);
  const timeoutMs = stepTimeoutMs(step, env.timeouts);
  // The kind's own deadline applies to its guest calls; this one is the backstop for waits that
  // have none (a hung upload, a state read), a command timeout later.
  const signal = AbortSignal.any([env.signal, AbortSignal.timeout(timeoutMs + env.timeouts.commandMs)]);
  const outcome = await runKind(step, { step, env, machine, timeoutMs, signal, base });
  outcome.result.durationMs = Date.now() - started;
  return outcome;
}

function runKind<K extends StepKind>(step: PlannedStep<K>, ctx: StepContext): Promise<StepOutcome> {
  return kindModule<K>(step.kind).run(step.def, ctx);
}
