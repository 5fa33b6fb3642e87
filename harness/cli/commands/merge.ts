/**
 * `npm run scenario -- merge DIR…`: several results directories (CI shards, reruns, other machines)
 * into one results/<run-id>/, with the exit code a run of all of them would have had.
 */
import path from 'node:path';
import { ExitCode } from '../../../core/errors.js';
import { repoRoot } from '../../../core/paths.js';
import { mergeResults } from '../../results/merge.js';
import { loadQuestions } from '../../scenario/questions.js';
import type { CliOptions } from '../args.js';
import type { CliIo } from '../io.js';

export async function mergeCommand(opts: CliOptions, io: CliIo): Promise<number> {
  const { summary, paths } = await mergeResults({
    inputs: opts.positionals,
    root: opts.results ?? path.join(repoRoot, 'results'),
    questions: await loadQuestions(),
    allowMixed: opts.allowMixed,
    stepSummary: process.env.GITHUB_STEP_SUMMARY || undefined,
  });
  const write = opts.json ? io.stderr : io.stdout;
  for (const s of summary.merged.shards) write(`  ${s.label}: ${s.runs.length} run(s) on ${s.host.hostname} (${s.host.accel})\n`);
  const mixed = Object.keys(summary.merged.mixedRevisions);
  if (mixed.length > 0) io.stderr(`note: merged different revisions of ${mixed.join(', ')} (--allow-mixed)\n`);
  write(`merged ${summary.totals.runs} runs from ${summary.merged.shards.length} result folder(s) into ${path.relative(process.cwd(), paths.runDir) || paths.runDir} (report.md, report.html, junit.xml, summary.json)\n`);
  if (opts.json) io.stdout(JSON.stringify(summary, null, 2) + '\n');
  if (summary.interrupted) return ExitCode.interrupted;
  return summary.runs.some((r) => ['failed', 'error', 'timed-out', 'interrupted'].includes(r.verdict)) ? ExitCode.failed : ExitCode.ok;
}
