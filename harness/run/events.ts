/**
 * The runner's event stream. Every reporter (terminal views, results files, JUnit, report) is fed
 * from these events and never reaches into runner internals — Playwright's reporter API is the model.
 */
import type { MachineEvent } from '../../vm/machine.js';
import type { RunResult, RunSummary, StepResult } from '../results/model.js';
import type { PlannedStep, RunPlan } from '../scenario/plan.js';

export type RunnerEvent =
  | { type: 'run:begin'; runId: string; resultsDir: string; plans: RunPlan[]; parallel: number; accel: string; accelReason: string }
  | { type: 'scenario:begin'; plan: RunPlan; attempt: number; dir: string }
  | { type: 'step:begin'; plan: RunPlan; step: PlannedStep }
  | { type: 'step:end'; plan: RunPlan; step: PlannedStep; result: StepResult }
  | { type: 'machine:console'; plan: RunPlan; machine: string; event: MachineEvent }
  | { type: 'scenario:end'; plan: RunPlan; result: RunResult; willRetry: boolean }
  | { type: 'run:end'; summary: RunSummary }
  /** Notices worth a line: acceleration fallback, image downloads, kept machines. */
  | { type: 'notice'; plan?: RunPlan; message: string };

export interface Reporter {
  onEvent(event: RunnerEvent): void | Promise<void>;
}

/** Delivers events to every reporter in order; a reporter's failure never stops the run. */
export class EventBus {
  private chain: Promise<void> = Promise.resolve();
  readonly errors: string[] = [];

  constructor(private readonly reporters: Reporter[]) {}

  emit(event: RunnerEvent): Promise<void> {
    // Serialised so that file writers see events in order even when runs finish concurrently.
    this.chain = this.chain.then(async () => {
      for (const r of this.reporters) {
        try {
          await r.onEvent(event);
        } catch (err) {
          this.errors.push(`${r.constructor.name}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    });
    return this.chain;
  }

  flush(): Promise<void> {
    return this.chain;
  }
}
