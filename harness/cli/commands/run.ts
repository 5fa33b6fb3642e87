/**
 * `npm run scenario <name>`: check the host, pick the accelerator, reap what a crashed run left,
 * run the plans with the chosen reporters, keep machines if asked, and map the outcome to an exit
 * code. Ctrl-C kills every machine at once, writes the results of what finished, and exits 130.
 */
import os from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ExitCode } from '../../../core/errors.js';
import { cacheDir, repoRoot, stateDir } from '../../../core/paths.js';
import { resolveImage, type ResolvedImage } from '../../../images/resolve.js';
import { resolveAccel } from '../../../vm/accel.js';
import { BACKENDS, reapAllOrphans } from '../../../vm/backends.js';
import { installSignalHandlers } from '../../../vm/reaper.js';
import { createReporters, reporterFiles, selectReporters } from '../../reporters/registry.js';
import { VERDICTS } from '../../results/verdicts.js';
import { checkFreeSpace, MIN_FREE_BYTES_PER_RUN, prepareResultsRoot } from '../../results/layout.js';
import { autoParallel, oversubscription, shardPlans } from '../../run/admission.js';
import { describeReporterFailures } from '../../run/events.js';
import { GuestMachine } from '../../guest/machine.js';
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
  // A reporter that cannot run here is a usage error before anything boots.
  const reporterNames = selectReporters(opts.reporters, { isTTY: io.isTTY, json: opts.json, env: process.env });
  const { qemu } = await BACKENDS[opts.backend].requireHost();
  const reaped = (await reapAllOrphans()).flatMap((r) => r.reap.reaped);
  if (reaped.length > 0) io.stderr(`reaped ${reaped.length} machine(s) left by a crashed run:\n${reaped.map((line) => `  ${line}\n`).join('')}`);

  const parallel = opts.parallel === 'auto' ? autoParallel(plans) : opts.parallel;
  // Overlays grow on the filesystem that holds them: the work dir, else the run's private directory
  // under the state dir (never results).
  const workDir = opts.workDir === null ? null : path.resolve(opts.workDir);
  const disksRoot = workDir ?? stateDir();
  await prepareResultsRoot(disksRoot, workDir !== null ? '--work-dir' : 'state dir');
  await checkFreeSpace(disksRoot, Math.min(parallel, plans.length) * MIN_FREE_BYTES_PER_RUN, workDir !== null ? '--work-dir' : 'state dir');
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

  const write = opts.json ? io.stderr : io.stdout;
  try {
    const outcome = await runPlans(
      plans,
      {
        startGuest: (o) => GuestMachine.start(o),
        resultsRoot,
        workDir,
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
      (paths) => createReporters(reporterNames, { paths, questions, write, env: process.env }),
    );
    const { summary, paths, kept } = outcome;
    if (accel.accel === 'tcg' && opts.accel === 'auto') write(`note: ${accel.reason}\n`);
    for (const line of describeReporterFailures(outcome.reporterFailures)) io.stderr(`warning: ${line}\n`);
    // Only what is there: a reporter that was not chosen, or failed, wrote nothing to point at.
    const files = reporterFiles(reporterNames, paths).filter((f) => existsSync(f)).map((f) => path.basename(f));
    write(`results: ${path.relative(process.cwd(), paths.runDir) || paths.runDir}${files.length > 0 ? ` (${files.join(', ')})` : ''}\n`);
    if (opts.json) io.stdout(JSON.stringify(summary, null, 2) + '\n');

    if (kept.length > 0 && !interrupt.signal.aborted) {
      write(`\nkept ${kept.length} machine(s) running (--keep ${opts.keep}); get in with:\n`);
      for (const g of kept) write(`  ${g.plan.name}: ${g.sshCommand()}\n`);
      write('press Ctrl-C to tear them down\n');
      await new Promise<void>((resolve) => interrupt.signal.addEventListener('abort', () => resolve(), { once: true }));
      for (const g of kept) await g.destroy(false).catch(() => undefined);
    }
    if (summary.interrupted || interrupt.signal.aborted) return ExitCode.interrupted;
    const bad = summary.runs.some((r) => VERDICTS[r.verdict].bad);
    return bad ? ExitCode.failed : ExitCode.ok;
  } finally {
    uninstall();
  }
}
