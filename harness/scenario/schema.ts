/**
 * The scenario language: ONE definition from which come
 *   - the TypeScript types (Static<…>),
 *   - the runtime validation (harness/schema-check/validate.ts walks these schemas and reports
 *     file:line:column problems), and
 *   - the published editor schema `scenarios/schema.json` (a test fails when it is stale).
 *
 * The step kinds' schemas live with the kinds (harness/steps/<kind>.ts); the `Step` union below is
 * assembled from their registry.
 *
 * Two custom annotations steer the validator's error messages and are ignored by editors:
 *   - `x-action` on a step schema names the key that selects that kind of step;
 *   - `x-discriminator` on a union of objects names the property whose literal value selects a member.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { SHORTHAND_WORDS, STEP_KIND_NAMES, STEP_KINDS, type AnyStepDef } from '../steps/registry.js';
import { Duration, Name, Scalar, Size } from './schema-parts.js';

export type { DeploymentExpectDef, ExpectBodyDef } from '../steps/expect.js';
export type { ObservableDef } from '../steps/record.js';

/**
 * A step: one of the registered kinds (harness/steps/registry.ts), or a bare word that stands for
 * one (`- reboot`). The union is assembled from the registry, so its static type is given here.
 */
export type StepDef = AnyStepDef | string;
export const Step = Type.Unsafe<StepDef>({
  ...Type.Union([...SHORTHAND_WORDS.map((w) => Type.Literal(w)), ...STEP_KIND_NAMES.map((k) => STEP_KINDS[k].schema)]),
  'x-steps': true,
});

// ---------------------------------------------------------------------------------------------
// Scenario.

export const MachineSpecSchema = Type.Object(
  {
    image: Type.String({ minLength: 1, description: 'A catalog image name (images/catalog/*.yaml), e.g. testbed or fcos-stable.' }),
    memory: Type.Optional(Size),
    cpus: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 64,
        description:
          'vCPUs. Default: 2, except under TCG when overlapping runs would give the host more vCPUs than cores: then 1 (an emulated vCPU is a busy host thread).',
      }),
    ),
    disk: Type.Optional(Size),
    'transition-safe-login': Type.Optional(
      Type.Boolean({
        description:
          'Also write the login files that survive the move to a bootc image (default true). false provisions the login only the way Ignition alone does on FCOS/RHCOS (keys in ~/.ssh/authorized_keys.d, sudo from the image), which reproduces the lost SSH access after an rpm-ostree → bootc transition.',
      }),
    ),
  },
  { additionalProperties: false },
);

const MatrixAxisValues = Type.Array(Scalar, { minItems: 1 });
export const MatrixSchema = Type.Object(
  {
    exclude: Type.Optional(Type.Array(Type.Record(Type.String(), Scalar), { description: 'Combinations to drop (partial match).' })),
    include: Type.Optional(Type.Array(Type.Record(Type.String(), Scalar), { description: 'Extra combinations (every axis named).' })),
  },
  {
    additionalProperties: MatrixAxisValues,
    description: 'Named axes; the cross product of their values is the set of runs.',
  },
);

export const QuestionId = Type.String({ pattern: '^Q[0-9]+$', description: 'a question id like Q1' });

export const ScenarioSchema = Type.Object(
  {
    name: Name,
    summary: Type.String({ minLength: 1 }),
    questions: Type.Optional(Type.Array(QuestionId, { description: 'Question ids from scenarios/questions.yaml.' })),
    tags: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', description: 'a tag of lower-case letters, digits and dashes' }))),
    vars: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' }), Scalar)),
    matrix: Type.Optional(MatrixSchema),
    machine: Type.Optional(MachineSpecSchema),
    machines: Type.Optional(Type.Record(Name, MachineSpecSchema, { minProperties: 1 })),
    timeout: Type.Optional(Duration),
    steps: Type.Array(Step, { minItems: 1 }),
  },
  { additionalProperties: false, $id: 'https://bootpath.dev/schema/scenario.json', title: 'bootpath scenario' },
);

export type Scenario = Static<typeof ScenarioSchema>;
export type MachineDef = Static<typeof MachineSpecSchema>;

/** The questions file (scenarios/questions.yaml). */
export const QuestionsSchema = Type.Object(
  {
    questions: Type.Array(
      Type.Object(
        {
          id: QuestionId,
          slug: Name,
          title: Type.String({ minLength: 1 }),
          text: Type.String({ minLength: 1 }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
  },
  { additionalProperties: false },
);
export type QuestionsFile = Static<typeof QuestionsSchema>;

/** Strip the validator-only annotations so the published schema is plain JSON Schema (draft 2020-12). */
export function toPublishedSchema(schema: TSchema): unknown {
  return JSON.parse(
    JSON.stringify(schema, (key, value: unknown) => (key.startsWith('x-') ? undefined : value)),
  );
}
