/**
 * The scenario language: ONE definition from which come
 *   - the TypeScript types (Static<…>),
 *   - the runtime validation (harness/schema-check/validate.ts walks these schemas and reports
 *     file:line:column problems), and
 *   - the published editor schema `scenarios/schema.json` (a test fails when it is stale).
 *
 * Two custom annotations steer the validator's error messages and are ignored by editors:
 *   - `x-action` on a step schema names the key that selects that kind of step;
 *   - `x-discriminator` on a union of objects names the property whose literal value selects a member.
 */
import { Type, type Static, type TSchema, type TObject, type TProperties } from '@sinclair/typebox';

const Duration = Type.Union([Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)\\s*$', 'x-format': 'duration' }), Type.Number({ minimum: 0 })], {
  description: 'A duration: "90s", "5m", "1h", "500ms", or a number of seconds.',
  'x-format': 'duration',
});
const Size = Type.Union([Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(KiB|MiB|GiB|TiB|K|M|G|T)\\s*$', 'x-format': 'size' }), Type.Integer({ minimum: 1 })], {
  description: 'A size: "2GiB", "512MiB", or a number of MiB.',
  'x-format': 'size',
});
const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', description: 'a name of lower-case letters, digits and dashes' });
const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
const NonEmptyStrings = (description: string) => Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description });
const Strings = (description: string) => Type.Array(Type.String({ minLength: 1 }), { description });

/** A regular expression written as a string; validated by compiling it. */
const Pattern = Type.String({ minLength: 1, 'x-format': 'regex', description: 'A JavaScript regular expression.' });

// ---------------------------------------------------------------------------------------------
// Keys every step may carry.

const ExpectFailure = Type.Union(
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

const commonStepKeys = {
  name: Type.Optional(Type.String({ minLength: 1, description: 'A human name for the step (shown in reports).' })),
  timeout: Type.Optional(Duration),
  'expect-failure': Type.Optional(ExpectFailure),
  record: Type.Optional(
    Type.String({
      pattern: '^[a-z0-9][a-z0-9-]*$',
      'x-pattern-description': 'a finding id of lower-case letters, digits and dashes',
      description: 'Turn this step\'s outcome into a finding with this id for the report, instead of a pass/fail.',
    }),
  ),
  on: Type.Optional(Type.String({ minLength: 1, description: 'Which machine runs the step (multi-machine scenarios).' })),
  when: Type.Optional(
    Type.Record(Type.String(), Type.Union([Scalar, Type.Array(Scalar, { minItems: 1 })]), {
      minProperties: 1,
      description: 'Run the step only in matrix cells where each named axis has this value (or one of these values).',
    }),
  ),
};

function step<P extends TProperties>(action: string, props: P, description: string): TObject<P & typeof commonStepKeys> {
  return Type.Object({ ...props, ...commonStepKeys }, { additionalProperties: false, 'x-action': action, description });
}

// ---------------------------------------------------------------------------------------------
// Step kinds.

const OutputMatch = Type.Object(
  {
    contains: Type.Optional(Type.String()),
    matches: Type.Optional(Pattern),
    'not-contains': Type.Optional(Type.String()),
  },
  { additionalProperties: false, description: 'Checks on a command\'s output.' },
);

export const RunStep = step(
  'run',
  {
    run: Type.String({ minLength: 1, description: 'A command for the guest\'s shell. It runs in the guest only.' }),
    sudo: Type.Optional(Type.Boolean()),
    'exit-code': Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    stdout: Type.Optional(OutputMatch),
    stderr: Type.Optional(OutputMatch),
  },
  'Run a command in the guest.',
);

const RebootOptions = Type.Object(
  { via: Type.Optional(Type.Union([Type.Literal('systemctl'), Type.Literal('qmp-reset')])) },
  { additionalProperties: false },
);
export const RebootStep = step(
  'reboot',
  { reboot: Type.Union([Type.Null(), Type.Boolean(), RebootOptions]) },
  'Reboot the guest and wait for it to come back with a new boot id.',
);

const rpmOstree = <P extends TProperties>(op: string, props: P, description: string) =>
  step('rpm-ostree', { 'rpm-ostree': Type.Literal(op), ...props, reboot: Type.Optional(Type.Boolean()) }, description);

export const RpmOstreeStep = Type.Union(
  [
    rpmOstree('install', { packages: NonEmptyStrings('Packages to layer.') }, 'rpm-ostree install PACKAGES'),
    rpmOstree('uninstall', { packages: NonEmptyStrings('Packages to remove from the layer.') }, 'rpm-ostree uninstall PACKAGES'),
    rpmOstree(
      'update',
      {
        install: Type.Optional(Strings('--install packages (the MCO extensions path).')),
        uninstall: Type.Optional(Strings('--uninstall packages.')),
      },
      'rpm-ostree update [--install P] [--uninstall P]',
    ),
    rpmOstree(
      'kargs',
      {
        append: Type.Optional(Strings('--append=K')),
        'append-if-missing': Type.Optional(Strings('--append-if-missing=K')),
        delete: Type.Optional(Strings('--delete=K')),
        'delete-if-present': Type.Optional(Strings('--delete-if-present=K')),
        replace: Type.Optional(Strings('--replace=K=V')),
      },
      'rpm-ostree kargs (read, or change with append/delete/replace)',
    ),
    rpmOstree(
      'rebase',
      {
        image: Type.String({ minLength: 1, description: 'Container image; rebased as ostree-unverified-registry:IMAGE.' }),
      },
      'rpm-ostree rebase ostree-unverified-registry:IMAGE',
    ),
    rpmOstree('rollback', {}, 'rpm-ostree rollback'),
    rpmOstree(
      'cleanup',
      {
        pending: Type.Optional(Type.Boolean({ description: '-p: remove the pending (staged) deployment' })),
        rollback: Type.Optional(Type.Boolean({ description: '-r: remove the rollback deployment' })),
      },
      'rpm-ostree cleanup -p|-r',
    ),
    rpmOstree('reset', {}, 'rpm-ostree reset'),
    rpmOstree('override-remove', { packages: NonEmptyStrings('Base packages to remove.') }, 'rpm-ostree override remove PACKAGES'),
    rpmOstree('override-reset', { packages: NonEmptyStrings('Overrides to reset.') }, 'rpm-ostree override reset PACKAGES'),
    rpmOstree('status', {}, 'rpm-ostree status --json (the state is recorded)'),
  ],
  { 'x-action': 'rpm-ostree', 'x-discriminator': 'rpm-ostree' },
);

const bootc = <P extends TProperties>(op: string, props: P, description: string) =>
  step('bootc', { bootc: Type.Literal(op), ...props, apply: Type.Optional(Type.Boolean({ description: '--apply: reboot into it' })) }, description);

export const BootcStep = Type.Union(
  [
    bootc(
      'switch',
      {
        image: Type.String({ minLength: 1, description: 'Container image reference.' }),
        retain: Type.Optional(Type.Boolean()),
        transport: Type.Optional(Type.Union([Type.Literal('registry'), Type.Literal('containers-storage'), Type.Literal('oci')])),
      },
      'bootc switch IMAGE',
    ),
    bootc('upgrade', { check: Type.Optional(Type.Boolean()) }, 'bootc upgrade [--check]'),
    bootc('rollback', {}, 'bootc rollback'),
    bootc('status', {}, 'bootc status --format=json (the state is recorded)'),
  ],
  { 'x-action': 'bootc', 'x-discriminator': 'bootc' },
);

export const UpdateDriver = Type.Union([Type.Literal('rpm-ostree'), Type.Literal('bootc')]);
export const UpdateStep = step(
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

const DeploymentExpect = Type.Object(
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

const ExpectBody = Type.Object(
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
export const ExpectStep = step('expect', { expect: ExpectBody }, 'Assert on the deployment state.');

const Observable = Type.Union(
  [
    'booted',
    'staged',
    'rollback',
    'kargs',
    'os-release',
    'packages',
    'bootc',
    'rpm-ostree',
    'status-agree',
  ].map((k) => Type.Literal(k)),
);
export const RecordStep = Type.Object(
  {
    record: Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', description: 'a finding id of lower-case letters, digits and dashes' }),
    observe: Type.Array(Observable, { minItems: 1, description: 'Which parts of the state the finding shows.' }),
    note: Type.Optional(Type.String()),
    name: Type.Optional(Type.String({ minLength: 1 })),
    on: Type.Optional(Type.String({ minLength: 1 })),
    when: commonStepKeys.when,
  },
  { additionalProperties: false, 'x-action': 'record', description: 'Record an observation of the current state as a finding.' },
);

export const WaitStep = step(
  'wait',
  {
    wait: Type.Union([
      Duration,
      Type.Object(
        {
          console: Type.Optional(Pattern),
          command: Type.Optional(Type.String({ minLength: 1 })),
          'exit-code': Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
          interval: Type.Optional(Duration),
        },
        { additionalProperties: false, minProperties: 1 },
      ),
    ]),
  },
  'Wait a duration, for a console pattern, or until a guest command succeeds.',
);

export const CopyStep = step(
  'copy',
  {
    copy: Type.Object(
      {
        src: Type.String({ minLength: 1 }),
        dest: Type.String({ minLength: 1 }),
        direction: Type.Optional(Type.Union([Type.Literal('to-guest'), Type.Literal('from-guest')])),
        mode: Type.Optional(Type.String({ pattern: '^0?[0-7]{3,4}$' })),
      },
      { additionalProperties: false },
    ),
  },
  'Copy a file to the guest (src relative to the scenario file) or from it (dest relative to the run\'s results).',
);

/** `- reboot` (a bare word) is the short form of `- reboot: {}`. */
const BareReboot = Type.Literal('reboot');

export const Step = Type.Union([BareReboot, RunStep, RebootStep, RpmOstreeStep, BootcStep, UpdateStep, ExpectStep, WaitStep, CopyStep, RecordStep], {
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
export type StepDef = Static<typeof Step>;
export type MachineDef = Static<typeof MachineSpecSchema>;
export type RunStepDef = Static<typeof RunStep>;
export type RpmOstreeStepDef = Static<typeof RpmOstreeStep>;
export type BootcStepDef = Static<typeof BootcStep>;
export type UpdateStepDef = Static<typeof UpdateStep>;
export type ExpectStepDef = Static<typeof ExpectStep>;
export type ExpectBodyDef = Static<typeof ExpectBody>;
export type DeploymentExpectDef = Static<typeof DeploymentExpect>;
export type RecordStepDef = Static<typeof RecordStep>;
export type WaitStepDef = Static<typeof WaitStep>;
export type CopyStepDef = Static<typeof CopyStep>;
export type RebootStepDef = Static<typeof RebootStep>;
export type ObservableDef = Static<typeof Observable>;

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
