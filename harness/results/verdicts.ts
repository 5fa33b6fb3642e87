/**
 * The one vocabulary of run verdicts and step statuses. Everything that groups them (the exit
 * code, retries, fail-fast, JUnit, the report's failures section, terminal marks) reads this
 * table, so a new verdict is one row here and the compiler points at nothing else to forget.
 */

export const RUN_VERDICTS = ['passed', 'failed', 'error', 'flaky', 'interrupted', 'timed-out', 'skipped'] as const;
export type RunVerdict = (typeof RUN_VERDICTS)[number];

/** How a CI system's JUnit view should count it. */
export type JunitOutcome = 'pass' | 'failure' | 'error' | 'skipped';

/** How a report colours it: good news, bad news, or neither. */
export type Tone = 'ok' | 'bad' | 'neutral';

export interface VerdictInfo {
  /** Makes the command exit non-zero. */
  bad: boolean;
  /** Worth another attempt under --retries (an interrupted run is not: the user asked to stop). */
  retryable: boolean;
  /** Counts as a pass for --fail-fast (a flaky run still passed in the end). */
  passing: boolean;
  /** Listed with its message in the report's failures section. */
  explained: boolean;
  junit: JunitOutcome;
  tone: Tone;
  /** Terminal word, fixed width friendly. */
  word: string;
  /** Report mark. */
  emoji: string;
}

export const VERDICTS: Record<RunVerdict, VerdictInfo> = {
  passed: { bad: false, retryable: false, passing: true, explained: false, junit: 'pass', tone: 'ok', word: 'PASS', emoji: '✅' },
  failed: { bad: true, retryable: true, passing: false, explained: true, junit: 'failure', tone: 'bad', word: 'FAIL', emoji: '❌' },
  error: { bad: true, retryable: true, passing: false, explained: true, junit: 'error', tone: 'bad', word: 'ERROR', emoji: '💥' },
  flaky: { bad: false, retryable: false, passing: true, explained: true, junit: 'pass', tone: 'bad', word: 'FLAKY', emoji: '⚠️' },
  interrupted: { bad: true, retryable: false, passing: false, explained: false, junit: 'error', tone: 'bad', word: 'INTERRUPTED', emoji: '⏹' },
  'timed-out': { bad: true, retryable: true, passing: false, explained: true, junit: 'error', tone: 'bad', word: 'TIMEOUT', emoji: '⏱' },
  skipped: { bad: false, retryable: false, passing: false, explained: false, junit: 'skipped', tone: 'neutral', word: 'SKIP', emoji: '⏭' },
};

export const STEP_STATUSES = ['passed', 'failed', 'recorded', 'error', 'skipped'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface StepStatusInfo {
  /** The step broke the run (an assertion or the harness); its message is worth showing. */
  broke: boolean;
  tone: Tone;
  word: string;
  emoji: string;
}

export const STEP_STATUS: Record<StepStatus, StepStatusInfo> = {
  passed: { broke: false, tone: 'ok', word: 'PASS', emoji: '✅' },
  failed: { broke: true, tone: 'bad', word: 'FAIL', emoji: '❌' },
  recorded: { broke: false, tone: 'neutral', word: 'REC', emoji: '📝' },
  error: { broke: true, tone: 'bad', word: 'ERROR', emoji: '💥' },
  skipped: { broke: false, tone: 'neutral', word: 'SKIP', emoji: '⏭' },
};

/** Verdict → count, with `runs` the total; every verdict present, so a dashboard sees zeros. */
export type VerdictTotals = Record<RunVerdict, number> & { runs: number };

export function emptyTotals(): VerdictTotals {
  return { runs: 0, passed: 0, failed: 0, error: 0, flaky: 0, interrupted: 0, 'timed-out': 0, skipped: 0 };
}

export function countVerdicts(verdicts: Iterable<RunVerdict>): VerdictTotals {
  const totals = emptyTotals();
  for (const v of verdicts) {
    totals[v]++;
    totals.runs++;
  }
  return totals;
}

/** "2 passed, 1 failed" — the verdicts that occurred, in table order. */
export function totalsText(totals: VerdictTotals, mark: (v: RunVerdict) => string = () => ''): string {
  return RUN_VERDICTS.filter((v) => totals[v] > 0).map((v) => `${mark(v)}${totals[v]} ${v}`).join(', ') || 'none';
}
