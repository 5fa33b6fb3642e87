/**
 * The runner's event stream. Every reporter (terminal views, results files, JUnit, report) is fed
 * from these events and never reaches into runner internals — Playwright's reporter API is the model.
 */
import { errorMessage } from '../../core/errors.js';
import type { MachineEvent } from '../../vm/machine.js';
import type { RunResult, RunSummary, StateSnapshot, StepResult, SummaryHeader } from '../results/model.js';
import type { PlannedStep, RunPlan } from '../scenario/plan.js';

export type RunnerEvent =
  | { type: 'run:begin'; runId: string; resultsDir: string; plans: RunPlan[]; parallel: number; accel: string; accelReason: string; header: SummaryHeader }
  | { type: 'scenario:begin'; plan: RunPlan; attempt: number; dir: string }
  | { type: 'step:begin'; plan: RunPlan; step: PlannedStep }
  | { type: 'step:end'; plan: RunPlan; step: PlannedStep; result: StepResult }
  /** A machine's state was read (and saved as state-<n>.json): the report's timelines come from these. */
  | { type: 'state'; plan: RunPlan; attempt: number; snapshot: StateSnapshot }
  | { type: 'machine:console'; plan: RunPlan; machine: string; event: MachineEvent }
  | { type: 'scenario:end'; plan: RunPlan; result: RunResult; willRetry: boolean }
  | { type: 'run:end'; summary: RunSummary }
  /** Notices worth a line: acceleration fallback, image downloads, kept machines. */
  | { type: 'notice'; plan?: RunPlan; message: string };

export interface Reporter {
  /** How errors name it ("reporter 'junit' failed: …"). */
  readonly name: string;
  onEvent(event: RunnerEvent): void | Promise<void>;
}

export interface ReporterFailure {
  reporter: string;
  event: RunnerEvent['type'];
  message: string;
}

/** Delivers events to every reporter in order; a reporter's failure never stops the others or the run. */
export class EventBus {
  private chain: Promise<void> = Promise.resolve();
  readonly failures: ReporterFailure[] = [];

  constructor(private readonly reporters: Reporter[]) {}

  emit(event: RunnerEvent): Promise<void> {
    // Serialised so that file writers see events in order even when runs finish concurrently.
    this.chain = this.chain.then(async () => {
      for (const r of this.reporters) {
        try {
          await r.onEvent(event);
        } catch (err) {
          this.failures.push({ reporter: r.name, event: event.type, message: errorMessage(err) });
        }
      }
    });
    return this.chain;
  }

  flush(): Promise<void> {
    return this.chain;
  }
}

/** One line per failing reporter (its first failure and how many more), for the end of a run. */
export function describeReporterFailures(failures: ReporterFailure[]): string[] {
  const byReporter = new Map<string, ReporterFailure[]>();
  for (const f of failures) byReporter.set(f.reporter, [...(byReporter.get(f.reporter) ?? []), f]);
  return [...byReporter].map(([name, list]) => `reporter '${name}' failed on ${list[0]!.event}: ${list[0]!.message}${list.length > 1 ? ` (and ${list.length - 1} more time${list.length > 2 ? 's' : ''})` : ''}`);
}
