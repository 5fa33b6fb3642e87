/**
 * `npm run scenario <name>`: check the host, pick the accelerator, reap what a crashed run left,
 * run the plans with the chosen reporters, keep machines if asked, and map the outcome to an exit
 * code. Ctrl-C kills every machine at once, writes the results of what finished, and exits 130.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ExitCode } from '../../../core/errors.js';
import { cacheDir, repoRoot } from '../../../core/paths.js';
import { resolveImage, type ResolvedImage } from '../../../images/resolve.js';
import { resolveAccel } from '../../../vm/accel.js';
import { requireQemu } from '../../../vm/host-facts.js';
import { installSignalHandlers, reapOrphans } from '../../../vm/reaper.js';
import { GithubSummaryReporter } from '../../reporters/github.js';
import { LineReporter, TtyReporter } from '../../reporters/terminal.js';
import { checkFreeSpace, MIN_FREE_BYTES_PER_RUN, prepareResultsRoot } from '../../results/layout.js';
import { ResultsWriter } from '../../results/writer.js';
import { autoParallel, oversubscription, shardPlans } from '../../run/admission.js';
import type { Reporter } from '../../run/events.js';
import { hostRecord, runPlans } from '../../run/runner.js';
import type { RunPlan } from '../../scenario/plan.js';
import { loadQuestions } from '../../scenario/questions.js';
import type { CliOptions } from '../args.js';
import type { CliIo } from '../io.js';
import { interruptHandler } from '../interrupt.js';

export async function runCommand(opts: CliOptions, io: CliIo, allPlans: RunPlan[] = []): Promise<number> {
  const plans = shardPlans(allPlans, opts.shard);
  if (plans.length === 0) {
    io.stderr(`shard ${opts.shard?.index}/${opts.shard?.total} has no runs (${allPlans.length} in total)\n`);
    return ExitCode.ok;
  }
  // Before anything boots or probes: a results root that cannot be written is a host problem.
  const resultsRoot = path.resolve(opts.results ?? path.join(repoRoot, 'results'));
  await prepareResultsRoot(resultsRoot);
  const { qemu } = await requireQemu();
  const reaped = await reapOrphans();
  if (reaped.killed.length > 0) io.stderr(`reaped ${reaped.killed.length} machine(s) left by a crashed run: ${reaped.killed.map((k) => k.pid).join(', ')}\n`);

  const parallel = opts.parallel === 'auto' ? autoParallel(plans) : opts.parallel;
  await checkFreeSpace(resultsRoot, Math.min(parallel, plans.length) * MIN_FREE_BYTES_PER_RUN);
  const accel = await resolveAccel(opts.accel);
  const load = oversubscription(plans, accel.accel, parallel);
  if (load > 1) io.stderr(`note: ${parallel} runs at once want ${(load * os.availableParallelism()).toFixed(0)} vCPUs on ${os.availableParallelism()} host cores: guests will run slower, timeouts ×${load.toFixed(1)}\n`);
  const questions = await loadQuestions();
  const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

  // One resolution per image per run, shared by concurrent plans (the cache also locks across processes).
  const images = new Map<string, Promise<ResolvedImage>>();
  const progress = (line: string) => io.stderr(`${line}\n`);
  const resolveFor = (plan: RunPlan, machine: string): Promise<ResolvedImage> => {
    const entry = plan.machines.find((m) => m.name === machine)!.image;
    let pending = images.get(entry.entry.name);
    if (!pending) {
      pending = resolveImage(entry.entry, {
        cacheDir: cacheDir(),
        offline: opts.offline,
        verifyCache: opts.verifyCache,
        insecureNoChecksum: opts.insecureNoChecksum,
        catalogFile: entry.file,
        log: progress,
      });
      images.set(entry.entry.name, pending);
    }
    return pending;
  };

  const interrupt = new AbortController();
  const uninstall = installSignalHandlers({
    exit: false,
    onSignal: interruptHandler({ abort: (reason) => interrupt.abort(reason), notify: io.stderr, exit: (code) => process.exit(code) }),
  });

  const mode = opts.reporter === 'auto' ? (io.isTTY && !opts.json ? 'tty' : 'line') : opts.reporter;
  const write = opts.json ? io.stderr : io.stdout;
  try {
    const outcome = await runPlans(
      plans,
      {
        resultsRoot,
        parallel,
        retries: opts.retries,
        failFast: opts.failFast,
        keep: opts.keep,
        accel: accel.accel,
        accelReason: accel.reason,
        timeoutScale: accel.timeoutScale * load,
        backend: opts.backend,
        shard: opts.shard ? `${opts.shard.index}/${opts.shard.total}` : null,
        resolveImage: resolveFor,
        host: hostRecord(version, qemu),
        signal: interrupt.signal,
      },
      (paths) => {
        const reporters: Reporter[] = [];
        if (mode === 'tty') reporters.push(new TtyReporter(write));
        else if (mode === 'line') reporters.push(new LineReporter(write));
        reporters.push(
          new ResultsWriter(paths, questions, () => ({
            schemaVersion: 1,
            runId: path.basename(paths.runDir),
            startedAt: new Date().toISOString(),
            host: { ...hostRecord(version, qemu), accel: accel.accel, accelReason: accel.reason },
            options: { parallel, retries: opts.retries, shard: opts.shard ? `${opts.shard.index}/${opts.shard.total}` : null, keep: opts.keep, accel: accel.accel, backend: opts.backend },
          })),
        );
        if (process.env.GITHUB_STEP_SUMMARY) reporters.push(new GithubSummaryReporter(process.env.GITHUB_STEP_SUMMARY, paths));
        return reporters;
      },
    );
    const { summary, paths, kept } = outcome;
    if (accel.accel === 'tcg' && opts.accel === 'auto') write(`note: ${accel.reason}\n`);
    write(`results: ${path.relative(process.cwd(), paths.runDir) || paths.runDir} (report.md, report.html, junit.xml, summary.json)\n`);
    if (opts.json) io.stdout(JSON.stringify(summary, null, 2) + '\n');

    if (kept.length > 0 && !interrupt.signal.aborted) {
      write(`\nkept ${kept.length} machine(s) running (--keep ${opts.keep}); get in with:\n`);
      for (const g of kept) write(`  ${g.plan.name}: ${g.sshCommand()}\n`);
      write('press Ctrl-C to tear them down\n');
      await new Promise<void>((resolve) => interrupt.signal.addEventListener('abort', () => resolve(), { once: true }));
      for (const g of kept) await g.destroy(false).catch(() => undefined);
    }
    if (summary.interrupted || interrupt.signal.aborted) return ExitCode.interrupted;
    const bad = summary.runs.some((r) => ['failed', 'error', 'timed-out', 'interrupted'].includes(r.verdict));
    return bad ? ExitCode.failed : ExitCode.ok;
  } finally {
    uninstall();
  }
}
