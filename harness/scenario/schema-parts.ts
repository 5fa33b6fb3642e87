/**
 * Schema building blocks shared by the scenario schema (schema.ts) and the step kinds
 * (harness/steps/*.ts). They live apart from schema.ts because schema.ts assembles the `Step`
 * union from the step registry, and the step kinds need these parts to define themselves.
 */
import { Type, type TObject, type TProperties } from '@sinclair/typebox';

export const Duration = Type.Union([Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)\\s*$', 'x-format': 'duration' }), Type.Number({ minimum: 0 })], {
  description: 'A duration: "90s", "5m", "1h", "500ms", or a number of seconds.',
  'x-format': 'duration',
});
export const Size = Type.Union([Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(KiB|MiB|GiB|TiB|K|M|G|T)\\s*$', 'x-format': 'size' }), Type.Integer({ minimum: 1 })], {
  description: 'A size: "2GiB", "512MiB", or a number of MiB.',
  'x-format': 'size',
});
export const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', description: 'a name of lower-case letters, digits and dashes' });
export const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
export const NonEmptyStrings = (description: string) => Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description });
export const Strings = (description: string) => Type.Array(Type.String({ minLength: 1 }), { description });

/** A regular expression written as a string; validated by compiling it. */
export const Pattern = Type.String({ minLength: 1, 'x-format': 'regex', description: 'A JavaScript regular expression.' });

export const FindingId = Type.String({
  pattern: '^[a-z0-9][a-z0-9-]*$',
  'x-pattern-description': 'a finding id of lower-case letters, digits and dashes',
  description: 'Turn this step\'s outcome into a finding with this id for the report, instead of a pass/fail.',
});

// ---------------------------------------------------------------------------------------------
// Keys every step may carry.

export const ExpectFailure = Type.Union(
  [
    Type.Boolean(),
    Type.Object(
      {
        stderr: Type.Optional(Pattern),
        'exit-code': Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'The step is expected to fail (non-zero exit), optionally with stderr matching a pattern.' },
);

export const When = Type.Record(Type.String(), Type.Union([Scalar, Type.Array(Scalar, { minItems: 1 })]), {
  minProperties: 1,
  description: 'Run the step only in matrix cells where each named axis has this value (or one of these values).',
});

export const commonStepKeys = {
  name: Type.Optional(Type.String({ minLength: 1, description: 'A human name for the step (shown in reports).' })),
  timeout: Type.Optional(Duration),
  'expect-failure': Type.Optional(ExpectFailure),
  record: Type.Optional(FindingId),
  on: Type.Optional(Type.String({ minLength: 1, description: 'Which machine runs the step (multi-machine scenarios).' })),
  when: Type.Optional(When),
};

/**
 * One step kind's schema: its own keys plus the common ones. `x-action` names the key that selects
 * the kind (the validator's step dispatch reads it).
 */
export function stepSchema<P extends TProperties>(action: string, props: P, description: string): TObject<P & typeof commonStepKeys> {
  return Type.Object({ ...props, ...commonStepKeys }, { additionalProperties: false, 'x-action': action, description });
}
