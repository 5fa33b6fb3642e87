/** `expect: …`: assertions on the deployment state (read fresh, or reused when nothing ran since). */
import { Type, type Static } from '@sinclair/typebox';
import type { StateSummary, StepResult } from '../results/model.js';
import { Strings, stepSchema } from '../scenario/schema-parts.js';
import { describeFailures, evaluateExpect } from '../run/expect.js';
import { summarizeState } from '../run/state-summary.js';
import { finish, probeFiles } from './outcome.js';
import { defineStepKind, WEIGHTS, type StepOutcome } from './types.js';

export const DeploymentExpect = Type.Object(
  {
    image: Type.Optional(Type.String()),
    digest: Type.Optional(Type.String()),
    version: Type.Optional(Type.String()),
    packages: Type.Optional(Strings('Packages that must be layered (requested).')),
    'lacks-packages': Type.Optional(Strings('Packages that must not be layered.')),
    layered: Type.Optional(Type.Boolean()),
    incompatible: Type.Optional(Type.Boolean({ description: 'bootc\'s incompatible flag' })),
    pinned: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const DeploymentSlot = Type.Union([Type.Null(), DeploymentExpect], {
  description: 'null: there must be no such deployment.',
});

export const ExpectBody = Type.Object(
  {
    booted: Type.Optional(DeploymentSlot),
    staged: Type.Optional(DeploymentSlot),
    rollback: Type.Optional(DeploymentSlot),
    kargs: Type.Optional(
      Type.Object({ has: Type.Optional(Strings('Kernel arguments in /proc/cmdline.')), lacks: Type.Optional(Strings('Kernel arguments not in /proc/cmdline.')) }, { additionalProperties: false }),
    ),
    'os-release': Type.Optional(Type.Record(Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$' }), Type.String())),
    files: Type.Optional(
      Type.Object({ present: Type.Optional(Strings('Paths that must exist in the guest.')), absent: Type.Optional(Strings('Paths that must not exist.')) }, { additionalProperties: false }),
    ),
    bootc: Type.Optional(
      Type.Object(
        {
          available: Type.Optional(Type.Boolean()),
          incompatible: Type.Optional(Type.Boolean({ description: 'booted deployment\'s incompatible flag' })),
          type: Type.Optional(Type.Union([Type.Null(), Type.Literal('bootcHost')])),
        },
        { additionalProperties: false },
      ),
    ),
    'status-agree': Type.Optional(Type.Boolean({ description: 'bootc status and rpm-ostree status agree on booted/staged/rollback image and digest' })),
    system: Type.Optional(Type.Union([Type.Literal('running'), Type.Literal('degraded')])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const ExpectStep = stepSchema('expect', { expect: ExpectBody }, 'Assert on the deployment state.');
export type ExpectStepDef = Static<typeof ExpectStep>;
export type ExpectBodyDef = Static<typeof ExpectBody>;
export type DeploymentExpectDef = Static<typeof DeploymentExpect>;

/** The relevant part of the state beside a failed expectation. */
function stateContext(s: StateSummary): string[] {
  const d = (x: StateSummary['booted']) => (x ? `${x.image ?? `ostree ${x.checksum?.slice(0, 12) ?? '?'}`}${x.packages.length ? ` +${x.packages.join(',')}` : ''}${x.incompatible ? ' (incompatible)' : ''}` : 'null');
  const lines = [`state: booted: ${d(s.booted)}; staged: ${d(s.staged)}; rollback: ${d(s.rollback)}; kargs: ${s.kargs.join(' ')}`];
  if (s.disagreements.length) lines.push(`bootc vs rpm-ostree: ${s.disagreements.join('; ')}`);
  return lines;
}

export const expectKind = defineStepKind({
  kind: 'expect',
  schema: ExpectStep,
  describe: (def) => `expect ${Object.keys(def.expect).join(', ')}`,
  defaultTimeoutMs: (t) => t.commandMs,
  weight: () => WEIGHTS.other,
  changesState: false,
  expectFailure: false,
  async run(def, ctx): Promise<StepOutcome> {
    const { state, index } = await ctx.env.currentState(ctx.step.machine, `for ${ctx.step.label}`);
    const checks = await evaluateExpect(def.expect, state, (paths) => probeFiles(ctx, paths));
    const failures = describeFailures(checks);
    const ok = failures.length === 0;
    const message = ok ? undefined : [...failures, ...stateContext(summarizeState(state))].join('\n');
    const result: StepResult = { ...ctx.base, checks, stateIndex: index };
    return finish(ctx, result, ok, message, { kind: 'expectation', outcome: ok ? 'held' : 'did not hold', ok, checks, after: summarizeState(state) });
  },
});
