/**
 * What a run leaves behind (results/<run-id>/summary.json and friends), as TypeScript types. The
 * shapes are defined once, as the published schemas in format.ts; these are their static types.
 */
import type { Static } from '@sinclair/typebox';
import type { StepKind } from '../steps/registry.js';
import type { HostState } from '../state/types.js';
import type {
  DeploymentSummarySchema,
  FindingSchema,
  HostRecordSchema,
  MachineRecordSchema,
  RunResultSchema,
  RunSummarySchema,
  StateSummarySchema,
  StepResultSchema,
} from './format.js';

export { RESULTS_SCHEMA_VERSION } from './format.js';
export type { RunVerdict, StepStatus } from './verdicts.js';

/** A compact view of a HostState for findings and timelines. */
export type StateSummary = Static<typeof StateSummarySchema>;
export type DeploymentSummary = Static<typeof DeploymentSummarySchema>;

/**
 * `kind` is a registered step kind inside bootpath; the published format keeps it an open
 * string, so that adding a step kind is not a format change for readers.
 */
export type StepResult = Omit<Static<typeof StepResultSchema>, 'kind'> & { kind: StepKind };

export type FindingKind = Finding['kind'];
/** An outcome turned into evidence for a question rather than a pass/fail. */
export type Finding = Static<typeof FindingSchema>;

export type MachineRecord = Static<typeof MachineRecordSchema>;
export type RunResult = Omit<Static<typeof RunResultSchema>, 'steps'> & { steps: StepResult[] };
export type HostRecord = Static<typeof HostRecordSchema>;
export type RunSummary = Omit<Static<typeof RunSummarySchema>, 'runs'> & { runs: RunResult[] };

/** What a state-<n>.json holds: one read of a machine's state, and when in the run it was taken. */
export interface StateSnapshot {
  index: number;
  machine: string;
  /** Why it was read: "first boot", "after reboot", a step label. */
  reason: string;
  /** The machine's boot count at the time. */
  boot: number;
  state: HostState;
}

/** The parts of a summary known when the run begins; the runner builds it once. */
export type SummaryHeader = Pick<RunSummary, 'schemaVersion' | 'runId' | 'startedAt' | 'host' | 'options'>;
