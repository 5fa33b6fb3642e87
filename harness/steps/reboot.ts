/** `reboot` / `reboot: {via}`: reboot the guest and wait for a new boot id and a settled systemd. */
import { Type, type Static } from '@sinclair/typebox';
import type { StepResult } from '../results/model.js';
import { stepSchema } from '../scenario/schema-parts.js';
import { finish } from './outcome.js';
import { defineStepKind, WEIGHTS, type StepOutcome } from './types.js';

const RebootOptions = Type.Object(
  { via: Type.Optional(Type.Union([Type.Literal('systemctl'), Type.Literal('qmp-reset')])) },
  { additionalProperties: false },
);
export const RebootStep = stepSchema(
  'reboot',
  { reboot: Type.Union([Type.Null(), Type.Boolean(), RebootOptions]) },
  'Reboot the guest and wait for it to come back with a new boot id.',
);
export type RebootStepDef = Static<typeof RebootStep>;

export const rebootKind = defineStepKind({
  kind: 'reboot',
  schema: RebootStep,
  shorthand: { word: 'reboot', def: { reboot: null } },
  describe: (def) => (typeof def.reboot === 'object' && def.reboot?.via === 'qmp-reset' ? 'reboot via qmp-reset' : 'reboot'),
  defaultTimeoutMs: (t) => t.goDownMs + t.bootMs + t.settleMs,
  weight: () => WEIGHTS.boot,
  changesState: true,
  expectFailure: false,
  async run(def, ctx): Promise<StepOutcome> {
    const viaReset = typeof def.reboot === 'object' && def.reboot?.via === 'qmp-reset';
    const reboot = await ctx.machine.reboot(ctx.signal, viaReset ? async () => ctx.machine.machine.reset() : undefined);
    ctx.env.addGuestTime(reboot.phases.totalMs);
    ctx.env.log(`reboot: ${reboot.verdict} — ${reboot.message}`);
    const { session: _session, ...record } = reboot;
    const ok = reboot.verdict === 'ok' || reboot.verdict === 'came-back-degraded';
    let stateIndex: number | undefined;
    if (ok) stateIndex = (await ctx.env.snapshot(ctx.step.machine, 'after reboot')).index;
    const result: StepResult = { ...ctx.base, reboot: record, stateIndex };
    return finish(ctx, result, ok, ok ? (reboot.verdict === 'came-back-degraded' ? reboot.message : undefined) : reboot.message);
  },
});
