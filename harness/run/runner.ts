/**
 * Schedules RunPlans: p-limit for concurrency, a memory budget for admission, retries that mark
 * a pass-on-retry as flaky, fail-fast, and one event stream for every reporter.
 */
import os from 'node:os';
import { promises as fs } from 'node:fs';
import pLimit from 'p-limit';
import { errorMessage } from '../../core/errors.js';
import type { ResolvedImage } from '../../images/resolve.js';
import type { BackendName } from '../../vm/backends.js';
import type { Accel } from '../../vm/machine.js';
import { RunSecrets } from '../../vm/run-secrets.js';
import { generateKeyPair } from '../../vm/ssh-keys.js';
import { resultsPaths, newRunId, type ResultsPaths } from '../results/layout.js';
import type { HostRecord, RunResult, RunSummary, RunVerdict, SummaryHeader } from '../results/model.js';
import { RESULTS_SCHEMA_VERSION } from '../results/model.js';
import type { RunPlan } from '../scenario/plan.js';
import { MemoryBudget, availableMemoryMiB, HOST_RESERVE_MIB, planMemoryMiB } from './admission.js';
import { runIdentity } from '../results/identity.js';
import { pointLatest } from '../results/latest.js';
import { isTestbed } from '../results/testbed.js';
import { emptyTotals, VERDICTS } from '../results/verdicts.js';
import { EventBus, type Reporter, type ReporterFailure } from './events.js';
import { executePlan, type KeepPolicy, type PlanDeps, type PlanGuest } from './execute-plan.js';
import type { GuestMachine } from '../guest/machine.js';
import { scaledTimeouts } from './timeouts.js';
import { scheduleOrder } from './schedule.js';

export interface RunnerOptions<G extends PlanGuest = GuestMachine> {
  /** Creates and boots one machine (GuestMachine.start in a real run; a fake in unit tests). */
  startGuest: PlanDeps<G>['startGuest'];
  resultsRoot: string;
  parallel: number;
  retries: number;
  failFast: boolean;
  keep: KeepPolicy;
  accel: Accel;
  accelReason: string;
  timeoutScale: number;
  backend: BackendName;
  shard: string | null;
  resolveImage: (plan: RunPlan, machine: string) => Promise<ResolvedImage>;
  host: Omit<HostRecord, 'accel' | 'accelReason'>;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  runId?: string;
  /** Machine disks go under `<workDir>/bootpath-<runId>/` instead of the run folders (--work-dir). */
  workDir?: string | null;
}

export interface RunnerOutcome<G extends PlanGuest = GuestMachine> {
  summary: RunSummary;
  paths: ResultsPaths;
  kept: G[];
  /** Reporters that threw; the run went on without them. */
  reporterFailures: ReporterFailure[];
}

export async function runPlans<G extends PlanGuest>(plans: RunPlan[], opts: RunnerOptions<G>, reporters: (paths: ResultsPaths) => Reporter[]): Promise<RunnerOutcome<G>> {
  const runId = opts.runId ?? newRunId();
  const paths = resultsPaths(opts.resultsRoot, runId);
  await fs.mkdir(paths.runDir, { recursive: true });
  await pointLatest(paths);
  const bus = new EventBus(reporters(paths));
  const timeouts = scaledTimeouts(opts.timeoutScale);
  const started = Date.now();

  // The run's private keys live outside results/ (vm/run-secrets.ts) and are removed at the end
  // unless a kept machine still needs them (then when the process exits).
  const secrets = await RunSecrets.create(runId, undefined, { workDir: opts.workDir ?? null });
  const clientKey = await generateKeyPair(secrets.dir, 'id_ed25519', `bootpath-run-${runId}`);

  const header: SummaryHeader = {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    runId,
    startedAt: new Date(started).toISOString(),
    host: { ...opts.host, accel: opts.accel, accelReason: opts.accelReason },
    options: { parallel: opts.parallel, retries: opts.retries, shard: opts.shard, keep: opts.keep, accel: opts.accel, backend: opts.backend },
  };
  const summary: RunSummary = {
    ...header,
    finishedAt: null,
    durationMs: 0,
    totals: emptyTotals(),
    runs: [],
    testbed: plans.some(isTestbed),
    interrupted: false,
  };

  await bus.emit({ type: 'run:begin', runId, resultsDir: paths.runDir, plans, parallel: opts.parallel, accel: opts.accel, accelReason: opts.accelReason, header });

  const limit = pLimit(opts.parallel);
  const budget = new MemoryBudget(Math.max(availableMemoryMiB() - HOST_RESERVE_MIB, Math.max(...plans.map(planMemoryMiB), 1)));
  const stopScheduling = new AbortController();
  const kept: G[] = [];

  const runOne = async (plan: RunPlan): Promise<void> => {
    let final: RunResult | null = null;
    const failures: string[] = [];
    for (let attempt = 1; attempt <= opts.retries + 1; attempt++) {
      if (opts.signal.aborted || stopScheduling.signal.aborted) break;
      const release = await budget.acquire(planMemoryMiB(plan));
      const dir = paths.runFolder(plan.id, attempt);
      try {
        await bus.emit({ type: 'scenario:begin', plan, attempt, dir });
        const outcome = await executePlan(plan, {
          startGuest: opts.startGuest,
          runId,
          dir,
          attempt,
          accel: opts.accel,
          parallel: opts.parallel,
          backend: opts.backend,
          timeouts,
          keep: opts.keep,
          clientKey,
          secrets,
          resolveImage: opts.resolveImage,
          bus,
          signal: opts.signal,
        });
        kept.push(...outcome.kept);
        final = outcome.result;
      } finally {
        release();
      }
      const willRetry = VERDICTS[final.verdict].retryable && attempt <= opts.retries && !opts.signal.aborted;
      if (final.verdict !== 'passed') failures.push(`attempt ${attempt}: ${final.verdict}: ${final.message ?? ''}`);
      if (final.verdict === 'passed' && attempt > 1) {
        // Passing on a retry is not the same as passing: say so.
        final = { ...final, verdict: 'flaky', message: failures.join('\n') };
      }
      await bus.emit({ type: 'scenario:end', plan, result: final, willRetry });
      if (!willRetry) break;
    }
    if (!final) return;
    summary.runs.push(final);
    summary.totals[final.verdict]++;
    summary.totals.runs++;
    if (opts.failFast && !VERDICTS[final.verdict].passing) stopScheduling.abort();
  };

  // p-limit starts queued runs in call order: hand it the longest estimated runs first.
  const settled = await Promise.allSettled(scheduleOrder(plans, opts.parallel).map((plan) => limit(() => runOne(plan))));
  const crashed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');

  summary.interrupted = opts.signal.aborted;
  // Runs that never started (fail-fast or Ctrl-C) are listed, so the summary covers the whole plan.
  for (const plan of plans) {
    if (summary.runs.some((r) => r.id === plan.id)) continue;
    const crash = crashed.length > 0 ? errorMessage(crashed[0]!.reason) : undefined;
    const verdict: RunVerdict = opts.signal.aborted ? 'interrupted' : crash ? 'error' : 'skipped';
    summary.runs.push(notRun(plan, verdict, crash ?? (verdict === 'skipped' ? 'not run: --fail-fast stopped scheduling after a failure' : 'interrupted before it started')));
    summary.totals[verdict]++;
    summary.totals.runs++;
  }
  summary.runs.sort((a, b) => plans.findIndex((p) => p.id === a.id) - plans.findIndex((p) => p.id === b.id));
  summary.finishedAt = new Date().toISOString();
  summary.durationMs = Date.now() - started;
  await bus.emit({ type: 'run:end', summary });
  await bus.flush();
  if (kept.length === 0) await secrets.remove();
  return { summary, paths, kept, reporterFailures: bus.failures };
}

function notRun(plan: RunPlan, verdict: RunVerdict, message: string): RunResult {
  return {
    ...runIdentity(plan),
    verdict,
    message,
    attempts: 0,
    startedAt: new Date().toISOString(),
    durationMs: 0,
    guestTimeMs: 0,
    machines: [],
    steps: [],
    findings: [],
    dir: '',
  };
}

export function hostRecord(version: string, qemu: string | null): Omit<HostRecord, 'accel' | 'accelReason'> {
  return { hostname: os.hostname(), cpus: os.availableParallelism(), memoryMiB: Math.round(os.totalmem() / 1024 / 1024), qemu, bootpathVersion: version };
}
