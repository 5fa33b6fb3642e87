/**
 * Several results directories (CI shards, a rerun, runs on different machines) become one:
 * summary.json, junit.xml, report.md/.html and the GitHub step summary, written by the same writers
 * a run uses. Every merged run says which input it came from, every input keeps its host and
 * accelerator and its wall time, and inputs planned from different revisions of a scenario file
 * are refused unless the caller allows it (their findings would answer different questions).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError } from '../../core/errors.js';
import { formatDuration } from '../../core/units.js';
import { writeFileAtomic } from '../../core/atomic.js';
import { writeResultFiles } from '../reporters/files.js';
import { githubSummaryText } from '../reporters/github.js';
import type { Question } from '../scenario/questions.js';
import { pointLatest } from './latest.js';
import { newRunId, resultsPaths, type ResultsPaths } from './layout.js';
import type { HostRecord, RunResult, RunSummary } from './model.js';
import { statesFromFiles } from './state-files.js';
import { countVerdicts } from './verdicts.js';

/** One input directory, as it ran. */
export interface ShardRecord {
  /** How the report names it: "shard 2/3", else the directory's name. */
  label: string;
  /** The directory given to merge. */
  source: string;
  runId: string;
  shard: string | null;
  host: HostRecord;
  startedAt: string;
  finishedAt: string | null;
  /** The input's wall time. */
  durationMs: number;
  runs: string[];
  interrupted: boolean;
}

export type MergedRun = RunResult & { shard: string };

export interface MergedSummary extends RunSummary {
  runs: MergedRun[];
  merged: {
    shards: ShardRecord[];
    /** Runs that appear in more than one input: the latest attempt is kept, the others are listed here. */
    superseded: { id: string; shard: string; verdict: RunResult['verdict']; startedAt: string }[];
    /** Scenario → the revisions its runs were planned from, when more than one (only with allowMixed). */
    mixedRevisions: Record<string, string[]>;
  };
}

export interface MergeOptions {
  inputs: string[];
  /** Results root: the merged run goes to <root>/<run-id>/ and <root>/latest points at it. */
  root: string;
  questions: Question[];
  allowMixed: boolean;
  /** $GITHUB_STEP_SUMMARY, when set. */
  stepSummary?: string;
  now?: Date;
}

interface Input {
  dir: string;
  source: string;
  summary: RunSummary;
}

/** Directories holding a summary.json under each given path (a run dir, a results root, a download of artifacts). */
export async function findResultDirs(given: string, depth = 3): Promise<string[]> {
  const stat = await fs.lstat(given).catch(() => null);
  if (!stat?.isDirectory()) return [];
  if (await fs.stat(path.join(given, 'summary.json')).then((s) => s.isFile(), () => false)) return [given];
  if (depth === 0) return [];
  const found: string[] = [];
  for (const name of (await fs.readdir(given)).sort()) {
    // `latest` is a symlink to a run that is found under its own name.
    if (name === 'latest') continue;
    found.push(...(await findResultDirs(path.join(given, name), depth - 1)));
  }
  return found;
}

async function readInputs(given: string[]): Promise<Input[]> {
  const inputs: Input[] = [];
  for (const g of given) {
    // A path the user names is followed even when it is a link (`results/latest`); the walk below it is not.
    const dirs = await findResultDirs(await fs.realpath(path.resolve(g)).catch(() => path.resolve(g)));
    if (dirs.length === 0) throw new InputError(`${g}: no summary.json in it or in the folders below it; give results/<run-id>/ folders or folders that contain them`);
    for (const dir of dirs) {
      const file = path.join(dir, 'summary.json');
      let summary: RunSummary;
      try {
        summary = JSON.parse(await fs.readFile(file, 'utf8')) as RunSummary;
      } catch (err) {
        throw new InputError(`${file}: not a readable summary (${(err as Error).message})`);
      }
      if (summary.schemaVersion !== 1 || !Array.isArray(summary.runs) || !summary.host) throw new InputError(`${file}: not a bootpath summary of schema version 1`);
      inputs.push({ dir, source: path.relative(process.cwd(), dir) || dir, summary });
    }
  }
  return inputs;
}

function labels(inputs: Input[]): string[] {
  const raw = inputs.map((i) => (i.summary.options?.shard ? `shard ${i.summary.options.shard}` : path.basename(i.dir)));
  // Two inputs of the same shard (a rerun) are told apart by their run id.
  return raw.map((l, i) => (raw.indexOf(l) !== raw.lastIndexOf(l) ? `${l} (${inputs[i]!.summary.runId})` : l));
}

/** The revision a run was planned from, from its plan.json (absent for results written before plans carried one). */
async function revisionOf(input: Input, run: RunResult): Promise<string | null> {
  if (!run.dir) return null;
  try {
    const plan = JSON.parse(await fs.readFile(path.join(input.dir, run.dir, 'plan.json'), 'utf8')) as { revision?: unknown };
    return typeof plan.revision === 'string' ? plan.revision : null;
  } catch {
    return null;
  }
}

async function revisions(inputs: Input[], names: string[]): Promise<Map<string, Map<string, string[]>>> {
  const byScenario = new Map<string, Map<string, string[]>>();
  for (const [i, input] of inputs.entries()) {
    for (const run of input.summary.runs) {
      const rev = await revisionOf(input, run);
      if (!rev) continue;
      const revs = byScenario.get(run.scenario) ?? new Map<string, string[]>();
      const where = revs.get(rev) ?? [];
      if (!where.includes(names[i]!)) where.push(names[i]!);
      revs.set(rev, where);
      byScenario.set(run.scenario, revs);
    }
  }
  return byScenario;
}

function mergedHost(shards: ShardRecord[]): HostRecord {
  const first = shards[0]!.host;
  const uniq = (xs: string[]) => [...new Set(xs)];
  const hosts = uniq(shards.map((s) => s.host.hostname));
  const accels = uniq(shards.map((s) => s.host.accel));
  return {
    ...first,
    hostname: hosts.length === 1 ? hosts[0]! : `${hosts.length} hosts (${hosts.join(', ')})`,
    accel: accels.join('/'),
    accelReason: shards.length === 1 ? first.accelReason : shards.map((s) => `${s.label}: ${s.host.accel} (${s.host.accelReason})`).join('; '),
  };
}

/** Builds the merged summary; copies nothing. */
export async function mergeSummaries(inputs: Input[], opts: { allowMixed: boolean; runId: string }): Promise<{ summary: MergedSummary; from: Map<string, Input> }> {
  const names = labels(inputs);
  const revs = await revisions(inputs, names);
  const mixed = [...revs].filter(([, r]) => r.size > 1);
  if (mixed.length > 0 && !opts.allowMixed) {
    throw new InputError(
      `refusing to merge results planned from different revisions of the same scenario file (their findings may answer different questions); pass --allow-mixed to merge them anyway:\n` +
        mixed.map(([scenario, r]) => `  ${scenario}: ${[...r].map(([rev, where]) => `${rev} in ${where.join(', ')}`).join('; ')}`).join('\n'),
    );
  }
  const shards: ShardRecord[] = inputs.map((input, i) => ({
    label: names[i]!,
    source: input.source,
    runId: input.summary.runId,
    shard: input.summary.options?.shard ?? null,
    host: input.summary.host,
    startedAt: input.summary.startedAt,
    finishedAt: input.summary.finishedAt,
    durationMs: input.summary.durationMs,
    runs: input.summary.runs.map((r) => r.id),
    interrupted: input.summary.interrupted,
  }));

  // The latest attempt of a run wins; a pass after an earlier failure elsewhere is flaky, as with --retries.
  const kept = new Map<string, { run: MergedRun; input: Input }>();
  const superseded: MergedSummary['merged']['superseded'] = [];
  for (const [i, input] of inputs.entries()) {
    for (const run of input.summary.runs) {
      const candidate = { run: { ...run, shard: names[i]! }, input };
      const earlier = kept.get(run.id);
      if (!earlier) {
        kept.set(run.id, candidate);
        continue;
      }
      const [older, newer] = Date.parse(earlier.run.startedAt) <= Date.parse(run.startedAt) ? [earlier, candidate] : [candidate, earlier];
      superseded.push({ id: run.id, shard: older.run.shard, verdict: older.run.verdict, startedAt: older.run.startedAt });
      const failedBefore = older.run.verdict !== 'passed' && older.run.verdict !== 'skipped';
      const run2 = newer.run.verdict === 'passed' && failedBefore ? { ...newer.run, verdict: 'flaky' as const, attempts: older.run.attempts + newer.run.attempts, message: `passed in ${newer.run.shard} after ${older.run.verdict} in ${older.run.shard}` } : newer.run;
      kept.set(run.id, { run: run2, input: newer.input });
    }
  }

  // Runs in the order the inputs list them (shard by shard), each once.
  const order = inputs.flatMap((input) => input.summary.runs.map((r) => r.id)).filter((id, i, all) => all.indexOf(id) === i);
  const runs = order.map((id) => kept.get(id)!.run);
  const totals = countVerdicts(runs.map((r) => r.verdict));
  const starts = shards.map((s) => Date.parse(s.startedAt));
  const ends = shards.map((s) => (s.finishedAt ? Date.parse(s.finishedAt) : Date.parse(s.startedAt) + s.durationMs));
  const first = inputs[0]!.summary;
  const summary: MergedSummary = {
    schemaVersion: first.schemaVersion,
    runId: opts.runId,
    startedAt: new Date(Math.min(...starts)).toISOString(),
    finishedAt: shards.some((s) => s.finishedAt === null) ? null : new Date(Math.max(...ends)).toISOString(),
    durationMs: Math.max(...ends) - Math.min(...starts),
    host: mergedHost(shards),
    options: { ...first.options, parallel: Math.max(...inputs.map((i) => i.summary.options.parallel)), retries: Math.max(...inputs.map((i) => i.summary.options.retries)), shard: null },
    totals,
    runs,
    testbed: runs.some((r) => r.testbed),
    interrupted: shards.some((s) => s.interrupted),
    merged: { shards, superseded, mixedRevisions: Object.fromEntries(mixed.map(([s, r]) => [s, [...r.keys()]])) },
  };
  return { summary, from: new Map([...kept].map(([id, k]) => [id, k.input])) };
}

/** The shards table a merged report opens with: where each part ran and how long it took. */
export function renderShardsMarkdown(m: MergedSummary['merged']): string {
  const out = ['## Shards', '', '| shard | host | accel | wall time | runs |', '|---|---|---|---|---|'];
  for (const s of m.shards) out.push(`| ${s.label} | ${s.host.hostname} (${s.host.cpus} CPUs) | ${s.host.accel} | ${formatDuration(s.durationMs)}${s.interrupted ? ' (interrupted)' : ''} | ${s.runs.length}: ${s.runs.join(', ').replace(/\|/g, '\\|')} |`);
  if (m.superseded.length > 0) out.push('', `Superseded by a later attempt: ${m.superseded.map((x) => `${x.id} (${x.verdict} in ${x.shard})`).join(', ')}.`);
  const mixed = Object.entries(m.mixedRevisions);
  if (mixed.length > 0) out.push('', `**Mixed scenario revisions** (merged with --allow-mixed): ${mixed.map(([s, r]) => `${s} (${r.join(', ')})`).join('; ')}.`);
  return out.join('\n') + '\n';
}

const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function renderShardsHtml(m: MergedSummary['merged']): string {
  const rows = m.shards.map((s) => `<tr><td>${esc(s.label)}</td><td>${esc(s.host.hostname)} (${s.host.cpus} CPUs)</td><td>${esc(s.host.accel)}</td><td>${esc(formatDuration(s.durationMs))}${s.interrupted ? ' (interrupted)' : ''}</td><td>${s.runs.length}: ${esc(s.runs.join(', '))}</td></tr>`);
  const notes: string[] = [];
  if (m.superseded.length > 0) notes.push(`<p>Superseded by a later attempt: ${esc(m.superseded.map((x) => `${x.id} (${x.verdict} in ${x.shard})`).join(', '))}.</p>`);
  const mixed = Object.entries(m.mixedRevisions);
  if (mixed.length > 0) notes.push(`<p><b>Mixed scenario revisions</b> (merged with --allow-mixed): ${esc(mixed.map(([s, r]) => `${s} (${r.join(', ')})`).join('; '))}.</p>`);
  return `<h2>Shards</h2><table><tr><th>shard</th><th>host</th><th>accel</th><th>wall time</th><th>runs</th></tr>${rows.join('')}</table>${notes.join('')}`;
}

/** Put the shards section right under the report's title, where a reader looks first. */
async function addShardsSection(paths: ResultsPaths, merged: MergedSummary['merged']): Promise<void> {
  const md = await fs.readFile(paths.reportMd, 'utf8');
  const cut = md.indexOf('\n\n');
  await writeFileAtomic(paths.reportMd, cut < 0 ? `${md}\n\n${renderShardsMarkdown(merged)}` : `${md.slice(0, cut)}\n\n${renderShardsMarkdown(merged)}${md.slice(cut)}`);
  const html = await fs.readFile(paths.reportHtml, 'utf8');
  const h1 = html.indexOf('</h1>');
  await writeFileAtomic(paths.reportHtml, h1 < 0 ? html.replace('</body>', `${renderShardsHtml(merged)}</body>`) : `${html.slice(0, h1 + 5)}\n${renderShardsHtml(merged)}${html.slice(h1 + 5)}`);
}

export interface MergeOutcome {
  summary: MergedSummary;
  paths: ResultsPaths;
}

export async function mergeResults(opts: MergeOptions): Promise<MergeOutcome> {
  if (opts.inputs.length === 0) throw new InputError('merge needs at least one results directory, e.g. merge shards/ or merge results/a results/b');
  const inputs = await readInputs(opts.inputs);
  const runId = `${newRunId(opts.now)}-merged`;
  const { summary, from } = await mergeSummaries(inputs, { allowMixed: opts.allowMixed, runId });
  const paths = resultsPaths(path.resolve(opts.root), runId);
  if (inputs.some((i) => path.resolve(i.dir) === paths.runDir)) throw new InputError(`the merged results would overwrite an input (${paths.runDir})`);

  // Each run's evidence (states, console logs, commands) moves with it, so the report's links work.
  const taken = new Set<string>();
  for (const run of summary.runs) {
    if (!run.dir) continue;
    const input = from.get(run.id)!;
    let dir = run.dir;
    for (let n = 2; taken.has(dir); n++) dir = `${run.dir}.${n}`;
    taken.add(dir);
    const src = path.join(input.dir, run.dir);
    if (await fs.stat(src).then((s) => s.isDirectory(), () => false)) await fs.cp(src, path.join(paths.runDir, dir), { recursive: true });
    run.dir = dir;
  }

  await fs.mkdir(paths.runDir, { recursive: true });
  await pointLatest(paths);
  // The same renderers as a run's reporters; the timelines come from the copied state files.
  await writeResultFiles(paths, summary, opts.questions, await statesFromFiles(paths.runDir, summary));
  await addShardsSection(paths, summary.merged);
  if (opts.stepSummary) await fs.appendFile(opts.stepSummary, `${githubSummaryText(await fs.readFile(paths.reportMd, 'utf8'))}\n`);
  return { summary, paths };
}
