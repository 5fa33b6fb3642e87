/** `update: {via, image}`: one OS update by either driver (the feature-gate comparison, Q5). */
import { Type, type Static } from '@sinclair/typebox';
import { stepSchema } from '../scenario/schema-parts.js';
import { shJoin } from '../guest/quote.js';
import { bootcCommand } from './bootc.js';
import { optionLikeValues } from './option-like.js';
import { toolStep, type GuestCommand } from './outcome.js';
import { rpmOstreeCommand } from './rpm-ostree.js';
import { defineStepKind, WEIGHTS } from './types.js';

export const UpdateDriver = Type.Union([Type.Literal('rpm-ostree'), Type.Literal('bootc')]);
export const UpdateStep = stepSchema(
  'update',
  {
    update: Type.Object(
      {
        via: UpdateDriver,
        image: Type.String({ minLength: 1 }),
        apply: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false, description: 'One OS update, run by either driver: rpm-ostree rebase or bootc switch.' },
    ),
  },
  'Move the host to IMAGE with the chosen update driver (the feature-gate comparison).',
);
export type UpdateStepDef = Static<typeof UpdateStep>;

export function updateCommand(step: UpdateStepDef): GuestCommand {
  const { via, image, apply } = step.update;
  if (via === 'rpm-ostree') return rpmOstreeCommand({ 'rpm-ostree': 'rebase', image, reboot: apply === true });
  return bootcCommand({ bootc: 'switch', image, apply: apply === true });
}

export const updateKind = defineStepKind({
  kind: 'update',
  schema: UpdateStep,
  check: (def) => optionLikeValues(def.update, ['image'], () => 'image').map((p) => ({ ...p, path: ['update', ...p.path] })),
  describe: (def) => `update via ${def.update.via}: ${shJoin(updateCommand(def).argv)}`,
  defaultTimeoutMs: (t, def) => t.osOperationMs + (updateCommand(def).reboots ? t.goDownMs + t.bootMs + t.settleMs : 0),
  weight: (def) => WEIGHTS.tool + (updateCommand(def).reboots ? WEIGHTS.boot : 0),
  changesState: true,
  expectFailure: true,
  run: (def, ctx) => toolStep(ctx, updateCommand(def)),
});
