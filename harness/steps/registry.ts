/**
 * The step kinds. Everything that varies by kind — the scenario schema's `Step` union, the
 * loader's checks and "did you mean" list, labels, timeouts, schedule weights, the cached-state
 * refresh, and execution — reads this table, so adding a kind is one module plus one line here.
 * The order is the order of the published schema and of the kinds listed in error messages.
 */
import type { Static } from '@sinclair/typebox';
import { chosenActions } from '../../core/schema-check.js';
import { bootcKind } from './bootc.js';
import { copyKind } from './copy.js';
import { expectKind } from './expect.js';
import { mcdKind } from './mcd.js';
import { rebootKind } from './reboot.js';
import { recordKind } from './record.js';
import { rpmOstreeKind } from './rpm-ostree.js';
import { runKind } from './run.js';
import type { StepKindModule } from './types.js';
import { updateKind } from './update.js';
import { waitKind } from './wait.js';

export const STEP_KINDS = {
  run: runKind,
  reboot: rebootKind,
  'rpm-ostree': rpmOstreeKind,
  bootc: bootcKind,
  update: updateKind,
  mcd: mcdKind,
  expect: expectKind,
  wait: waitKind,
  copy: copyKind,
  record: recordKind,
} as const;

type Kinds = typeof STEP_KINDS;
export type StepKind = keyof Kinds;

/** Each kind's step definition, as validated: `StepDefs['rpm-ostree']` is an rpm-ostree step. */
export type StepDefs = { [K in StepKind]: Static<Kinds[K]['schema']> };
/** Any step written as a mapping. */
export type AnyStepDef = StepDefs[StepKind];

/** The module of kind K, typed by K (a correlated lookup: `kindModule(step.kind).run(step.def, …)` needs no cast). */
export type KindModules = { [K in StepKind]: StepKindModule<K, Kinds[K]['schema']> };
const MODULES: KindModules = STEP_KINDS;

export function kindModule<K extends StepKind>(kind: K): KindModules[K] {
  return MODULES[kind];
}

export const STEP_KIND_NAMES = Object.keys(STEP_KINDS) as StepKind[];

const SCHEMAS = STEP_KIND_NAMES.map((k) => STEP_KINDS[k].schema);

/** A step with its kind attached: the discriminated union every later stage works with. */
export type KindedStep<K extends StepKind = StepKind> = { [P in K]: { kind: P; def: StepDefs[P] } }[K];

/**
 * The kind of a validated step. The schema check already refused a mapping with no action or two,
 * so finding none here is a harness bug, reported as such rather than guessed.
 */
export function kindOf(def: AnyStepDef): KindedStep {
  const [action, ...more] = chosenActions(SCHEMAS, def);
  const kind = STEP_KIND_NAMES.find((k) => k === action);
  if (!kind || more.length > 0) throw new Error(`internal: a validated step has actions [${[action, ...more].join(', ')}]`);
  return pairKind(kind, def);
}

/**
 * Pairs a kind with its definition. The one place a definition's type is asserted: kindOf's
 * caller passes what the schema check accepted for exactly this action key.
 */
function pairKind<K extends StepKind>(kind: K, def: AnyStepDef | StepDefs[K]): KindedStep<K> {
  return { kind, def } as KindedStep<K>;
}

/** Bare words that stand for a whole step (`- reboot`), and what they mean. */
export function shorthandStep(word: string): KindedStep | null {
  for (const kind of STEP_KIND_NAMES) {
    const step = shorthandOf(kind);
    if (step?.word === word) return step.step;
  }
  return null;
}

function shorthandOf<K extends StepKind>(kind: K): { word: string; step: KindedStep<K> } | null {
  const shorthand = kindModule<K>(kind).shorthand;
  return shorthand ? { word: shorthand.word, step: pairKind(kind, shorthand.def) } : null;
}

export const SHORTHAND_WORDS = STEP_KIND_NAMES.flatMap((k) => shorthandOf(k)?.word ?? []);

/** Whether running the step may change its machine's state (the cached state read is then stale). */
export function stepChangesState<K extends StepKind>(step: KindedStep<K>): boolean {
  const changes = kindModule<K>(step.kind).changesState;
  return typeof changes === 'function' ? changes(step.def) : changes;
}

/** The step's label: its `name:`, else what the kind says it runs. */
export function describeStep(step: KindedStep): string {
  return step.def.name ?? describeKinded(step);
}

function describeKinded<K extends StepKind>(step: KindedStep<K>): string {
  return kindModule<K>(step.kind).describe(step.def);
}
