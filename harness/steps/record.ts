/** `record: ID` + `observe: [...]`: parts of the current state, kept as a finding for the report. */
import { Type, type Static } from '@sinclair/typebox';
import type { StepResult } from '../results/model.js';
import { FindingId, When } from '../scenario/schema-parts.js';
import { observe, summarizeState } from '../run/state-summary.js';
import { finish } from './outcome.js';
import { defineStepKind, WEIGHTS, type StepOutcome } from './types.js';

const OBSERVABLES = ['booted', 'staged', 'rollback', 'kargs', 'os-release', 'packages', 'bootc', 'rpm-ostree', 'status-agree'] as const;
export const Observable = Type.Union(OBSERVABLES.map((k) => Type.Literal(k)));
export type ObservableDef = Static<typeof Observable>;

/**
 * Not built with stepSchema: `record` is both this kind's action key and the modifier every other
 * kind may carry, and timeouts or expect-failure mean nothing for a state observation.
 */
export const RecordStep = Type.Object(
  {
    record: FindingId,
    observe: Type.Array(Observable, { minItems: 1, description: 'Which parts of the state the finding shows.' }),
    note: Type.Optional(Type.String()),
    name: Type.Optional(Type.String({ minLength: 1 })),
    on: Type.Optional(Type.String({ minLength: 1 })),
    when: Type.Optional(When),
  },
  { additionalProperties: false, 'x-action': 'record', description: 'Record an observation of the current state as a finding.' },
);
export type RecordStepDef = Static<typeof RecordStep>;

export const recordKind = defineStepKind({
  kind: 'record',
  schema: RecordStep,
  describe: (def) => `record ${def.record}`,
  defaultTimeoutMs: (t) => t.commandMs,
  weight: () => WEIGHTS.other,
  changesState: false,
  expectFailure: false,
  async run(def, ctx): Promise<StepOutcome> {
    const { state, index } = await ctx.env.currentState(ctx.step.machine, `for ${ctx.step.label}`);
    const result: StepResult = { ...ctx.base, stateIndex: index };
    return finish(ctx, result, true, undefined, { kind: 'observation', outcome: 'observed', ok: null, observed: observe(state, def.observe), note: def.note, after: summarizeState(state) });
  },
});
