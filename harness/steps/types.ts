/**
 * The step-kind interface. Each kind (harness/steps/<kind>.ts) is one StepKindModule holding
 * everything about it: its schema, load-time check, label, default timeout, schedule weight, and
 * how it runs. The registry (registry.ts) lists the modules; the rest of the harness reads them
 * there instead of naming kinds.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { RebootResult } from '../guest/reboot.js';
import type { ExecOptions, ExecResult, GuestSession } from '../guest/session.js';
import type { Finding, StepResult } from '../results/model.js';
import type { RunPlan } from '../scenario/plan.js';
import type { HostState } from '../state/types.js';
import type { Timeouts } from '../run/timeouts.js';
import type { Machine } from '../../vm/machine.js';

/** A load-time problem; `path` is relative to the step (the loader prefixes `steps[i]`). */
export interface StepProblem {
  path: readonly (string | number)[];
  message: string;
  at?: 'key' | 'value';
}

/** What the loader knows besides the step itself. */
export interface StepCheckContext {
  /** Names of the scenario's machines when it declares several (`machines:`); [] for one machine. */
  machines: string[];
  /** Directory of the scenario file (copy sources are relative to it). */
  baseDir: string;
}

export type GuestExecOptions = Omit<ExecOptions, 'signal'> & { signal: AbortSignal };

/**
 * One scenario machine as a step sees it. harness/run/guest-machine.ts's GuestMachine implements
 * it; test/support/fake-guest.ts implements it with scripted answers.
 */
export interface StepGuest {
  readonly machine: Pick<Machine, 'reset' | 'waitForConsole'>;
  exec(argv: readonly string[], opts: GuestExecOptions): Promise<ExecResult>;
  execShell(command: string, opts: GuestExecOptions): Promise<ExecResult>;
  /** Reboot by `systemctl reboot`, or by `trigger` (a command that reboots the guest itself). */
  reboot(signal: AbortSignal, trigger?: (s: GuestSession) => Promise<unknown>): Promise<RebootResult>;
  session(signal: AbortSignal): Promise<GuestSession>;
}

export interface StepEnv {
  plan: RunPlan;
  runId: string;
  machines: Map<string, StepGuest>;
  timeouts: Timeouts;
  signal: AbortSignal;
  /** The step log (commands, output as it arrives). */
  log: (line: string) => void;
  /** Read the state of a machine, save it as state-<n>.json, remember it as the latest. */
  snapshot: (machine: string, reason: string) => Promise<{ state: HostState; index: number }>;
  /** The state as of now: the last read if nothing ran on the machine since, else a new read. */
  currentState: (machine: string, reason: string) => Promise<{ state: HostState; index: number }>;
  /** The latest state read per machine (the "before" of the next change). */
  lastState: Map<string, HostState>;
  /** Where `copy: {direction: from-guest}` writes (the run's results folder). */
  runDir: string;
  testbed: boolean;
  /** Adds guest time (boots, commands) for the harness-overhead figure. */
  addGuestTime: (ms: number) => void;
}

export interface StepOutcome {
  result: StepResult;
  finding?: Finding;
}

/** The keys every step kind's definition may carry that the shared outcome logic reads. */
export interface CommonStepFields {
  name?: string;
  record?: string;
  'expect-failure'?: boolean | { stderr?: string; 'exit-code'?: number };
}

/** What a kind's run function gets besides its own definition. */
export interface StepContext {
  step: { index: number; label: string; machine: string; def: CommonStepFields };
  env: StepEnv;
  machine: StepGuest;
  timeoutMs: number;
  signal: AbortSignal;
  /** The result fields every step has (index, label, kind, machine, start time). */
  base: StepResult;
}

export interface StepKindModule<K extends string = string, S extends TSchema = TSchema> {
  /** The action key that selects this kind in YAML (`run:`, `rpm-ostree:` …). */
  kind: K;
  schema: S;
  /** A bare word that stands for a whole step (`- reboot`), and the definition it means. */
  shorthand?: { word: string; def: Static<S> };
  /** Checks the schema cannot express (relations between keys, the file system). */
  check?: (def: Static<S>, ctx: StepCheckContext) => StepProblem[];
  /** The step's label when it has no `name:`; built from what the step really runs. */
  describe: (def: Static<S>) => string;
  /** Timeout when the step sets no `timeout:` (the timeouts are already scaled for the accelerator). */
  defaultTimeoutMs: (t: Timeouts, def: Static<S>) => number;
  /** Relative cost for the scheduler, in nominal seconds under TCG (see WEIGHTS). */
  weight: (def: Static<S>) => number;
  /** Running it may change the guest's state: the cached state read is stale afterwards (per definition where the kind has read-only forms). */
  changesState: boolean | ((def: Static<S>) => boolean);
  /** `expect-failure:` means something for this kind (it runs a command that can fail). */
  expectFailure: boolean;
  run: (def: Static<S>, ctx: StepContext) => Promise<StepOutcome>;
}

/**
 * Scheduler weights in nominal seconds under TCG (README "Performance": a boot ≈ 45–60 s, a
 * deployment-writing tool call ≈ 10–25 s, anything else about a second).
 */
export const WEIGHTS = { boot: 55, tool: 15, other: 1 } as const;

/** Identity, for inference: keeps `kind` a literal and ties `describe`/`run` to the schema's type. */
export function defineStepKind<const K extends string, S extends TSchema>(module: StepKindModule<K, S>): StepKindModule<K, S> {
  return module;
}
