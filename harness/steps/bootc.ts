/** `bootc: OP`: bootc switch / upgrade / rollback / status. */
import { Type, type Static, type TProperties } from '@sinclair/typebox';
import { stepSchema } from '../scenario/schema-parts.js';
import { shJoin } from '../guest/quote.js';
import { optionLikeValues } from './option-like.js';
import { toolStep, type GuestCommand } from './outcome.js';
import { defineStepKind, WEIGHTS } from './types.js';

const op = <Op extends string, P extends TProperties>(name: Op, props: P, description: string) =>
  stepSchema('bootc', { bootc: Type.Literal(name), ...props, apply: Type.Optional(Type.Boolean({ description: '--apply: reboot into it' })) }, description);

export const BootcStep = Type.Union(
  [
    op(
      'switch',
      {
        image: Type.String({ minLength: 1, description: 'Container image reference.' }),
        retain: Type.Optional(Type.Boolean()),
        transport: Type.Optional(Type.Union([Type.Literal('registry'), Type.Literal('containers-storage'), Type.Literal('oci')])),
      },
      'bootc switch IMAGE',
    ),
    op('upgrade', { check: Type.Optional(Type.Boolean()) }, 'bootc upgrade [--check]'),
    op('rollback', {}, 'bootc rollback'),
    op('status', {}, 'bootc status --format=json (the state is recorded)'),
  ],
  { 'x-action': 'bootc', 'x-discriminator': 'bootc' },
);
export type BootcStepDef = Static<typeof BootcStep>;

export function bootcCommand(step: BootcStepDef): GuestCommand {
  const apply = step.apply === true;
  switch (step.bootc) {
    case 'switch':
      return {
        argv: [
          'bootc',
          'switch',
          ...(step.transport ? [`--transport=${step.transport}`] : []),
          ...(step.retain ? ['--retain'] : []),
          ...(apply ? ['--apply'] : []),
          // End of options (clap): the image is never read as one, whatever the loader let through.
          '--',
          step.image,
        ],
        reboots: apply,
      };
    case 'upgrade':
      return { argv: ['bootc', 'upgrade', ...(step.check ? ['--check'] : []), ...(apply && !step.check ? ['--apply'] : [])], reboots: apply && !step.check };
    case 'rollback':
      return { argv: ['bootc', 'rollback', ...(apply ? ['--apply'] : [])], reboots: apply };
    case 'status':
      return { argv: ['bootc', 'status', '--format=json'], reboots: false };
  }
}

export const bootcKind = defineStepKind({
  kind: 'bootc',
  schema: BootcStep,
  check: (def) => optionLikeValues(def, ['image'], () => 'image'),
  describe: (def) => shJoin(bootcCommand(def).argv),
  defaultTimeoutMs: (t, def) => t.osOperationMs + (bootcCommand(def).reboots ? t.goDownMs + t.bootMs + t.settleMs : 0),
  weight: (def) => WEIGHTS.tool + (bootcCommand(def).reboots ? WEIGHTS.boot : 0),
  changesState: true,
  expectFailure: true,
  run: (def, ctx) => toolStep(ctx, bootcCommand(def)),
});
