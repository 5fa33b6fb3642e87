/**
 * The published results format: summary.json and each line of steps.jsonl, as TypeBox schemas.
 * The TypeScript types (model.ts) and the checked-in JSON Schemas (summary.schema.json,
 * step.schema.json, written by `schema --write`) both come from here, so what the writer emits,
 * what the compiler checks and what dashboards validate against cannot drift.
 *
 * Compatibility: add fields, never change the meaning of one. A change that would break a reader
 * bumps RESULTS_SCHEMA_VERSION (the `schemaVersion` every summary carries).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { ImageProvenance } from '../../images/provenance.js';
import type { RebootResult } from '../guest/reboot.js';
import type { CheckResult } from '../run/expect.js';
import type { Cell } from '../scenario/matrix.js';
import { RUN_VERDICTS, STEP_STATUSES } from './verdicts.js';

export const RESULTS_SCHEMA_VERSION = 1;

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const NullableString = Nullable(Type.String());
const NullableNumber = Nullable(Type.Number());

export const RunVerdictSchema = Type.Union(RUN_VERDICTS.map((v) => Type.Literal(v)), { description: 'passed, failed (an assertion), error (infrastructure), flaky (passed on a retry), interrupted, timed-out, skipped (never started)' });
export const StepStatusSchema = Type.Union(STEP_STATUSES.map((s) => Type.Literal(s)));

export const CellSchema = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), { description: 'The matrix cell: axis → value.' });

export const CheckResultSchema = Type.Object({
  check: Type.String({ description: 'What was checked, as a path: booted.image, kargs.has, files.present /etc/x.' }),
  expected: Type.Unknown(),
  actual: Type.Unknown(),
  ok: Type.Boolean(),
  detail: Type.Optional(Type.String()),
});

export const RebootRecordSchema = Type.Object({
  verdict: Type.Union((['ok', 'did-not-go-down', 'did-not-come-back', 'came-back-degraded', 'did-not-settle'] as const).map((v) => Type.Literal(v))),
  message: Type.String(),
  oldBootId: Type.String(),
  newBootId: NullableString,
  systemState: NullableString,
  failedUnits: Type.Array(Type.String()),
  phases: Type.Object({ downMs: NullableNumber, upMs: NullableNumber, settleMs: NullableNumber, totalMs: Type.Number() }),
  timestamps: Type.Object({ triggeredAt: Type.Number(), downAt: NullableNumber, upAt: NullableNumber, settledAt: NullableNumber }, { description: 'Epoch ms of each transition.' }),
  triggerError: NullableString,
  consoleTail: NullableString,
});

export const DeploymentSummarySchema = Type.Object({
  image: NullableString,
  digest: NullableString,
  version: NullableString,
  checksum: NullableString,
  packages: Type.Array(Type.String(), { description: 'Layered (requested) packages.' }),
  incompatible: Nullable(Type.Boolean()),
});

export const StateSummarySchema = Type.Object({
  bootId: NullableString,
  booted: Nullable(DeploymentSummarySchema),
  staged: Nullable(DeploymentSummarySchema),
  rollback: Nullable(DeploymentSummarySchema),
  kargs: Type.Array(Type.String()),
  osVersion: NullableString,
  systemState: NullableString,
  disagreements: Type.Array(Type.String(), { description: 'Where bootc and rpm-ostree disagree about this state.' }),
});

const lit = <const T extends readonly string[]>(values: T, description: string) => Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v)), { description }));

export const MCD_ITEM_STATUSES = ['ok', 'failed', 'ignored', 'warned', 'not-possible', 'noted', 'skipped'] as const;
export const MCD_PHASES = ['rpmOstreeHost', 'afterSwitch', 'bootcDriver'] as const;

/** One item of an `mcd:` step's plan as it ran (harness/mcd/execute.ts). */
export const McdItemRecordSchema = Type.Object({
  id: Type.String({ description: 'The item id within its plan (expand.ts).' }),
  kind: Type.String({ description: 'command, group, write-file, remove-file, note, daemon-error, nic-kargs, package-sets, reboot' }),
  part: lit(['sequence', 'on-error', 'finally'] as const, 'Which part of the plan: the sequence, the deferred error handling, or the deferred cleanups.'),
  parent: Type.Optional(Type.String({ description: 'The group, fallback owner or package-set item this one ran inside.' })),
  call: Nullable(Type.String({ description: 'The calls.yaml id of this command (null for podman, systemctl, …).' })),
  command: Type.Optional(Type.String()),
  follows: Type.Object({ file: Type.String(), function: Type.String() }, { description: 'The MCO file and function at the pinned commit.' }),
  status: lit(MCD_ITEM_STATUSES, 'ok; failed (the daemon gets an error); ignored (failed, the daemon carries on); warned (a group that failed, only logged); not-possible (the tool is not on this host or the testbed refuses it); noted (a branch with no command); skipped (not reached)'),
  exitCode: Type.Optional(Nullable(Type.Integer())),
  durationMs: Type.Optional(Type.Number({ minimum: 0 })),
  attempts: Type.Optional(Type.Integer({ minimum: 1, description: 'Tries under the daemon\'s backoff.' })),
  message: Type.String(),
  stderrExcerpt: Type.Optional(Type.String()),
  blockedHere: Type.Optional(Type.Boolean({ description: 'Skipped because an earlier item could not run on this host: this one cannot be tried here either.' })),
});

/** What an `mcd:` step ran: the daemon's plan item by item. */
export const McdRecordSchema = Type.Object({
  operation: Type.String(),
  driver: lit(['rpm-ostree', 'bootc'] as const, 'rpm-ostree: today\'s daemon; bootc: the feature-gated path'),
  phase: lit(MCD_PHASES, 'For the Q1 table: an rpm-ostree-managed host, a host after `bootc switch`, or the bootc-driven daemon.'),
  outcome: lit(['completed', 'reboot-requested', 'daemon-error', 'not-possible'] as const, 'How the plan ended.'),
  error: Type.Optional(Type.String({ description: 'The daemon\'s error, when it got one.' })),
  mcoCommit: Type.String(),
  backoffScale: Type.Number({ description: 'Retry delays as a fraction of the daemon\'s (testbed: scaled down).' }),
  items: Type.Array(McdItemRecordSchema),
});

/** One line of runs/<run>/steps.jsonl, and each entry of a run's `steps`. */
export const StepResultSchema = Type.Object(
  {
    index: Type.Integer({ minimum: 0 }),
    label: Type.String(),
    kind: Type.String({ description: 'The step kind (run, reboot, bootc, expect, …); new kinds may appear.' }),
    machine: Type.String(),
    status: StepStatusSchema,
    startedAt: Type.String({ format: 'date-time' }),
    durationMs: Type.Number({ minimum: 0 }),
    command: Type.Optional(Type.String({ description: 'The guest command line, as run (argv joined for display).' })),
    exitCode: Type.Optional(Nullable(Type.Integer())),
    stdoutExcerpt: Type.Optional(Type.String()),
    stderrExcerpt: Type.Optional(Type.String()),
    expectedFailure: Type.Optional(Type.Boolean({ description: 'The step was marked expect-failure.' })),
    checks: Type.Optional(Type.Array(CheckResultSchema)),
    reboot: Type.Optional(RebootRecordSchema),
    message: Type.Optional(Type.String({ description: 'Why it failed, as a readable diff or sentence.' })),
    stateIndex: Type.Optional(Type.Integer({ minimum: 0, description: 'The state-<n>.json read after this step.' })),
    findingId: Type.Optional(Type.String()),
    mcd: Type.Optional(McdRecordSchema),
  },
  { title: 'bootpath steps.jsonl line' },
);

export const FindingSchema = Type.Object({
  id: Type.String(),
  runId: Type.String(),
  scenario: Type.String(),
  cell: CellSchema,
  questions: Type.Array(Type.String()),
  step: Type.Integer({ minimum: 0 }),
  label: Type.String(),
  kind: Type.Union([Type.Literal('action'), Type.Literal('expectation'), Type.Literal('observation')]),
  outcome: Type.String({ description: 'One phrase for a table cell: "refused (exit 1)", "held", "did not hold", "observed".' }),
  ok: Nullable(Type.Boolean()),
  command: Type.Optional(Type.String()),
  exitCode: Type.Optional(Nullable(Type.Integer())),
  stderrExcerpt: Type.Optional(Type.String()),
  checks: Type.Optional(Type.Array(CheckResultSchema)),
  restsOn: Type.Optional(
    Type.Array(
      Type.Object({
        id: Type.String({ description: 'The entry of images/testbed/fidelity.yaml.' }),
        source: Nullable(Type.String({ description: 'The real source the stand-in follows: repository, tag, path, function.' })),
        unverified: Type.Optional(Type.String({ description: 'Why no source settles it.' })),
      }),
      { description: 'Testbed findings: the stand-in behaviours the outcome depends on — the commands of the finding\'s step and of every step before it, and for state checks the status readers.' },
    ),
  ),
  observed: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  before: Type.Optional(Nullable(StateSummarySchema)),
  after: Type.Optional(Nullable(StateSummarySchema)),
  note: Type.Optional(Type.String()),
  testbed: Type.Boolean({ description: "The evidence comes from the testbed's emulated tools, not real rpm-ostree/bootc." }),
});

export const ImageProvenanceSchema = Type.Object({
  image: Type.String({ description: 'Catalog name.' }),
  source: Type.String({ description: 'Source kind: coreos-stream, url, local, oci, testbed.' }),
  url: Type.Optional(Type.String()),
  stream: Type.Optional(Type.String()),
  version: Type.Optional(Type.String()),
  sha256: Type.Optional(Type.String()),
  uncompressedSha256: Type.Optional(Type.String()),
  digest: Type.Optional(Type.String()),
  signature: Type.Optional(Type.Union([Type.Literal('verified'), Type.Literal('not-configured')])),
  cacheHit: Type.Boolean(),
  verifiedAt: Type.String(),
  testbed: Type.Optional(Type.Boolean()),
});

export const MachineRecordSchema = Type.Object({
  name: Type.String(),
  image: ImageProvenanceSchema,
  memoryMiB: Type.Integer({ minimum: 1 }),
  cpus: Type.Integer({ minimum: 1 }),
  boots: Type.Integer({ minimum: 0 }),
});

export const RunResultSchema = Type.Object({
  id: Type.String(),
  scenario: Type.String(),
  file: Type.String(),
  cell: CellSchema,
  questions: Type.Array(Type.String()),
  tags: Type.Array(Type.String()),
  verdict: RunVerdictSchema,
  errorKind: Type.Optional(Type.String({ description: "For 'error': image, machine-start, machine-died, ssh, … as opposed to an assertion." })),
  message: Type.Optional(Type.String()),
  attempts: Type.Integer({ minimum: 0 }),
  startedAt: Type.String({ format: 'date-time' }),
  durationMs: Type.Number({ minimum: 0 }),
  guestTimeMs: Type.Number({ minimum: 0, description: 'Time inside guest boots/reboots and guest commands.' }),
  machines: Type.Array(MachineRecordSchema),
  steps: Type.Array(StepResultSchema),
  findings: Type.Array(FindingSchema),
  dir: Type.String({ description: "The run's folder, relative to the results directory; empty for a run that never started." }),
  testbed: Type.Boolean(),
});

export const HostRecordSchema = Type.Object({
  hostname: Type.String(),
  cpus: Type.Integer({ minimum: 1 }),
  memoryMiB: Type.Integer({ minimum: 0 }),
  accel: Type.String(),
  accelReason: Type.String(),
  qemu: NullableString,
  bootpathVersion: Type.String(),
});

const count = Type.Integer({ minimum: 0 });
export const TotalsSchema = Type.Object({ runs: count, passed: count, failed: count, error: count, flaky: count, interrupted: count, 'timed-out': count, skipped: count });

export const RunSummarySchema = Type.Object(
  {
    schemaVersion: Type.Literal(RESULTS_SCHEMA_VERSION),
    runId: Type.String(),
    startedAt: Type.String({ format: 'date-time' }),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
    durationMs: Type.Number({ minimum: 0 }),
    host: HostRecordSchema,
    options: Type.Object({ parallel: Type.Integer({ minimum: 1 }), retries: Type.Integer({ minimum: 0 }), shard: NullableString, keep: Type.String(), accel: Type.String(), backend: Type.String() }),
    totals: TotalsSchema,
    runs: Type.Array(RunResultSchema),
    testbed: Type.Boolean({ description: "True when any run used the testbed: its findings are about bootpath's emulation, not real bootc." }),
    interrupted: Type.Boolean(),
  },
  { title: `bootpath summary.json (schemaVersion ${RESULTS_SCHEMA_VERSION})` },
);

// The producers own these shapes; the compiler fails here when one changes and the published
// copy above does not (same keys, and each assignable to the other).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? ([keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false) : false) : false;
export const publishedShapesMatch: [
  Same<Static<typeof CheckResultSchema>, CheckResult>,
  Same<Static<typeof RebootRecordSchema>, Omit<RebootResult, 'session'>>,
  Same<Static<typeof ImageProvenanceSchema>, ImageProvenance>,
  Same<Static<typeof CellSchema>, Cell>,
] = [true, true, true, true];
