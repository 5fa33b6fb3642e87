import type { RunPlan } from '../scenario/plan.js';
import type { RunResult, RunSummary } from './model.js';

/** The fields of a RunResult that come straight from its plan. */
export function runIdentity(plan: RunPlan): Pick<RunResult, 'id' | 'scenario' | 'file' | 'cell' | 'questions' | 'tags' | 'testbed'> {
  return {
    id: plan.id,
    scenario: plan.scenario,
    file: plan.file,
    cell: plan.cell,
    questions: plan.questions,
    tags: plan.tags,
    testbed: plan.machines.some((m) => m.image.entry.source.kind === 'testbed'),
  };
}

export function emptyTotals(): RunSummary['totals'] {
  return { runs: 0, passed: 0, failed: 0, error: 0, flaky: 0, interrupted: 0, 'timed-out': 0, skipped: 0 };
}
