/**
 * What the events have said so far, as a summary: the runner's final one once it has ended, or
 * one built from the runs that have finished (so a run killed midway still leaves valid files).
 * Also keeps each run's state snapshots for the report's timelines.
 */
import type { RunnerEvent } from '../run/events.js';
import type { RunResult, RunSummary, StateSnapshot, SummaryHeader } from './model.js';
import { countVerdicts } from './verdicts.js';

/** Which state snapshots belong to a run: a retried plan has one set per attempt. */
export type StatesOf = (run: Pick<RunResult, 'id' | 'attempts'>) => StateSnapshot[];

const attemptKey = (id: string, attempt: number) => `${attempt} ${id}`;

export class RunLog {
  private header: SummaryHeader | null = null;
  private final: RunSummary | null = null;
  private readonly finished: RunResult[] = [];
  private readonly states = new Map<string, StateSnapshot[]>();

  /** Takes in one event; true when the summary changed (a file reporter then rewrites its file). */
  add(event: RunnerEvent): boolean {
    switch (event.type) {
      case 'run:begin':
        this.header = event.header;
        return true;
      case 'state': {
        const key = attemptKey(event.plan.id, event.attempt);
        this.states.set(key, [...(this.states.get(key) ?? []), event.snapshot]);
        return false;
      }
      case 'scenario:end':
        if (!event.willRetry) this.finished.push(event.result);
        return true;
      case 'run:end':
        this.final = event.summary;
        return true;
      default:
        return false;
    }
  }

  get ended(): boolean {
    return this.final !== null;
  }

  /** Null before run:begin: there is nothing to write yet. */
  summary(now = Date.now()): RunSummary | null {
    if (this.final) return this.final;
    if (!this.header) return null;
    return {
      ...this.header,
      finishedAt: null,
      durationMs: now - Date.parse(this.header.startedAt),
      totals: countVerdicts(this.finished.map((r) => r.verdict)),
      runs: [...this.finished],
      testbed: this.finished.some((r) => r.testbed),
      interrupted: false,
    };
  }

  readonly statesOf: StatesOf = (run) => [...(this.states.get(attemptKey(run.id, run.attempts)) ?? [])].sort((a, b) => a.index - b.index);
}
