/**
 * What a run leaves behind (results/<run-id>/summary.json and friends). This is a documented,
 * versioned format (README "Results layout"): add fields, never change the meaning of one.
 */
import type { ImageProvenance } from '../../images/resolve.js';
import type { RebootResult } from '../guest/reboot.js';
import type { CheckResult } from '../run/expect.js';
import type { StepKind } from '../scenario/plan.js';
import type { Cell } from '../scenario/matrix.js';
import type { HostState } from '../state/types.js';
import type { RunVerdict, StepStatus, VerdictTotals } from './verdicts.js';

export type { RunVerdict, StepStatus } from './verdicts.js';

export const RESULTS_SCHEMA_VERSION = 1;

/** A compact view of a HostState for findings and timelines. */
export interface StateSummary {
  bootId: string | null;
  booted: DeploymentSummary | null;
  staged: DeploymentSummary | null;
  rollback: DeploymentSummary | null;
  kargs: string[];
  osVersion: string | null;
  systemState: string | null;
  /** bootc and rpm-ostree disagree here (Q2). */
  disagreements: string[];
}

export interface DeploymentSummary {
  image: string | null;
  digest: string | null;
  version: string | null;
  checksum: string | null;
  packages: string[];
  incompatible: boolean | null;
}

export interface StepResult {
  index: number;
  label: string;
  kind: StepKind;
  machine: string;
  status: StepStatus;
  startedAt: string;
  durationMs: number;
  /** The guest command line, as run (argv joined for display). */
  command?: string;
  exitCode?: number | null;
  stdoutExcerpt?: string;
  stderrExcerpt?: string;
  /** The step was marked expect-failure. */
  expectedFailure?: boolean;
  checks?: CheckResult[];
  reboot?: Omit<RebootResult, 'session'>;
  /** Why it failed, as a readable diff / sentence. */
  message?: string;
  /** `state-<n>.json` taken after this step, if any. */
  stateIndex?: number;
  findingId?: string;
}

export type FindingKind = 'action' | 'expectation' | 'observation';

/** An outcome turned into evidence for a question rather than a pass/fail. */
export interface Finding {
  id: string;
  runId: string;
  scenario: string;
  cell: Cell;
  questions: string[];
  step: number;
  label: string;
  kind: FindingKind;
  /** One phrase a reader can put in a table cell: "refused (exit 1)", "held", "did not hold", "observed". */
  outcome: string;
  ok: boolean | null;
  command?: string;
  exitCode?: number | null;
  stderrExcerpt?: string;
  checks?: CheckResult[];
  observed?: Record<string, unknown>;
  before?: StateSummary | null;
  after?: StateSummary | null;
  note?: string;
  /** The evidence comes from the testbed's emulated tools, not real rpm-ostree/bootc. */
  testbed: boolean;
}

export interface MachineRecord {
  name: string;
  image: ImageProvenance;
  memoryMiB: number;
  cpus: number;
  boots: number;
}

export interface RunResult {
  id: string;
  scenario: string;
  file: string;
  cell: Cell;
  questions: string[];
  tags: string[];
  verdict: RunVerdict;
  /** For 'error': infrastructure (image, machine start, machine died, ssh) as opposed to an assertion. */
  errorKind?: string;
  message?: string;
  attempts: number;
  startedAt: string;
  durationMs: number;
  /** Time inside guest boots/reboots and guest commands (for the harness-overhead benchmark). */
  guestTimeMs: number;
  machines: MachineRecord[];
  steps: StepResult[];
  findings: Finding[];
  /** The run's folder, relative to the results directory. */
  dir: string;
  testbed: boolean;
}

export interface HostRecord {
  hostname: string;
  cpus: number;
  memoryMiB: number;
  accel: string;
  accelReason: string;
  qemu: string | null;
  bootpathVersion: string;
}

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

export interface RunSummary {
  schemaVersion: number;
  runId: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number;
  host: HostRecord;
  options: { parallel: number; retries: number; shard: string | null; keep: string; accel: string; backend: string };
  totals: VerdictTotals;
  runs: RunResult[];
  /** True when any run used the testbed: its findings are about bootpath's emulation, not real bootc. */
  testbed: boolean;
  interrupted: boolean;
}
