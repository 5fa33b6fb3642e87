/**
 * A RunPlan is one matrix cell of one scenario, fully resolved: images from the catalog, values
 * interpolated, durations and sizes in numbers. The runner executes plans; it never reads YAML.
 */
import type { CatalogImage } from '../../images/catalog.js';
import type { Cell } from './matrix.js';
import type { KindedStep, StepDefs, StepKind } from '../steps/registry.js';

export type { StepKind } from '../steps/registry.js';

export const DEFAULT_SCENARIO_TIMEOUT_MS = 30 * 60_000;
export const DEFAULT_MEMORY_MIB = 1024;
/** vCPUs of a machine that does not set `cpus` and runs alone, or under KVM (see machineVcpus). */
export const DEFAULT_CPUS = 2;

export interface MachinePlan {
  name: string;
  image: CatalogImage;
  memoryMiB: number;
  /** vCPUs the scenario asked for; null: sized at run time by machineVcpus (harness/run/admission.ts). */
  cpus: number | null;
  diskMiB: number | null;
  /** Write the login files that survive an /etc merge into a bootc image (vm/provision/ignition.ts). */
  transitionSafeLogin: boolean;
}

/** A machine as it is started: vCPUs decided for this host and run (harness/run/admission.ts machineVcpus). */
export type SizedMachinePlan = MachinePlan & { cpus: number };

interface PlannedStepBase {
  index: number;
  label: string;
  machine: string;
  /** Explicit step timeout, before the accelerator's scale factor; null → the kind's default. */
  timeoutMs: number | null;
}

/**
 * A step with its kind, a readable label and the machine it runs on: a union discriminated by
 * `kind`, so each kind's code receives its own definition type.
 */
export type PlannedStep<K extends StepKind = StepKind> = { [P in K]: PlannedStepBase & { kind: P; def: StepDefs[P] } }[K];

export function plannedStep(base: PlannedStepBase, step: KindedStep): PlannedStep {
  return { ...base, ...step };
}

export interface RunPlan {
  /** `scenario` or `scenario[axis=value,…]`; unique within a run. */
  id: string;
  scenario: string;
  file: string;
  summary: string;
  questions: string[];
  tags: string[];
  cell: Cell;
  machines: MachinePlan[];
  steps: PlannedStep[];
  timeoutMs: number;
  /** Directory of the scenario file: `copy` sources are relative to it. */
  baseDir: string;
  /** sha256 of the scenario file's text (16 hex digits): results from different revisions are not merged silently. */
  revision: string;
}
