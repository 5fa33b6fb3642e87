import type { RunPlan } from '../scenario/plan.js';
import type { RunResult } from './model.js';
import { isTestbed } from './testbed.js';

/** The fields of a RunResult that come straight from its plan. */
export function runIdentity(plan: RunPlan): Pick<RunResult, 'id' | 'scenario' | 'file' | 'cell' | 'questions' | 'tags' | 'testbed'> {
  return {
    id: plan.id,
    scenario: plan.scenario,
    file: plan.file,
    cell: plan.cell,
    questions: plan.questions,
    tags: plan.tags,
    testbed: isTestbed(plan),
  };
}
