/**
 * Every reporter by name, each one format. `--reporter a,b` picks from this table; adding a
 * reporter is one entry here (plus its name in names.ts) and its module.
 */
import { InputError } from '../../core/errors.js';
import type { ResultsPaths } from '../results/layout.js';
import type { Question } from '../scenario/questions.js';
import type { Reporter } from '../run/events.js';
import { FileReporter, htmlRender, junitRender, markdownRender, renderSummaryJson } from './files.js';
import { GithubSummaryReporter } from './github.js';
import { isLiveReporter, LIVE_REPORTERS, OUTPUT_REPORTERS, type ReporterName } from './names.js';
import { LineReporter, TtyReporter } from './terminal.js';

export interface ReporterContext {
  paths: ResultsPaths;
  questions: Question[];
  /** Where live views write (stdout, or stderr when --json owns stdout). */
  write: (text: string) => void;
  env: Record<string, string | undefined>;
}

export interface ReporterSpec {
  /** `live`: the terminal view, exactly one runs. `output`: files and summaries, any number. */
  kind: 'live' | 'output';
  description: string;
  /** The file it writes inside the results directory, if it writes one there. */
  file?: (paths: ResultsPaths) => string;
  /** On when no output reporter is named. */
  defaultOn?: (env: ReporterContext['env']) => boolean;
  /** Why it cannot run here, checked before the run starts. */
  unavailable?: (env: ReporterContext['env']) => string | null;
  /** Null for a view that shows nothing (`quiet`). */
  create(ctx: ReporterContext): Reporter | null;
}

export const REPORTERS: Record<ReporterName, ReporterSpec> = {
  tty: { kind: 'live', description: 'one live line per running scenario, redrawn in place (a terminal)', create: (c) => new TtyReporter(c.write) },
  line: { kind: 'live', description: 'one plain line per event (CI logs)', create: (c) => new LineReporter(c.write) },
  quiet: { kind: 'live', description: 'no live view', create: () => null },
  'summary.json': {
    kind: 'output',
    description: 'the whole run as JSON (published schema: harness/results/summary.schema.json)',
    file: (p) => p.summary,
    defaultOn: () => true,
    create: (c) => new FileReporter('summary.json', c.paths.summary, renderSummaryJson),
  },
  junit: {
    kind: 'output',
    description: 'junit.xml: one testsuite per scenario, one testcase per matrix run',
    file: (p) => p.junit,
    defaultOn: () => true,
    create: (c) => new FileReporter('junit', c.paths.junit, junitRender(c.paths.runDir)),
  },
  'report.md': {
    kind: 'output',
    description: 'the answers per question, as Markdown',
    file: (p) => p.reportMd,
    defaultOn: () => true,
    create: (c) => new FileReporter('report.md', c.paths.reportMd, markdownRender(c.questions), 'wait'),
  },
  'report.html': {
    kind: 'output',
    description: 'the answers per question, as one self-contained HTML file',
    file: (p) => p.reportHtml,
    defaultOn: () => true,
    create: (c) => new FileReporter('report.html', c.paths.reportHtml, htmlRender(c.questions), 'wait'),
  },
  github: {
    kind: 'output',
    description: 'the report appended to the GitHub Actions step summary ($GITHUB_STEP_SUMMARY)',
    defaultOn: (env) => Boolean(env.GITHUB_STEP_SUMMARY),
    unavailable: (env) => (env.GITHUB_STEP_SUMMARY ? null : 'it writes to $GITHUB_STEP_SUMMARY, which GitHub Actions sets and is not set here'),
    create: (c) => new GithubSummaryReporter(c.env.GITHUB_STEP_SUMMARY ?? '', c.questions),
  },
};

/**
 * The reporters a run uses. The live view is the one named, else tty on a terminal (unless --json
 * owns stdout) and line otherwise. Outputs are the ones named, else every default one.
 */
export function selectReporters(named: ReporterName[], opts: { isTTY: boolean; json: boolean; env: ReporterContext['env'] }): ReporterName[] {
  const live = named.filter(isLiveReporter);
  if (live.length > 1) throw new InputError(`--reporter names ${live.length} live views (${live.join(', ')}); choose one of: ${LIVE_REPORTERS.join(', ')}`);
  const outputs = named.filter((n) => !isLiveReporter(n));
  for (const n of outputs) {
    const why = REPORTERS[n].unavailable?.(opts.env);
    if (why) throw new InputError(`--reporter ${n} cannot run: ${why}`);
  }
  return [
    live[0] ?? (opts.isTTY && !opts.json ? 'tty' : 'line'),
    ...(outputs.length > 0 ? [...new Set(outputs)] : OUTPUT_REPORTERS.filter((n) => REPORTERS[n].defaultOn?.(opts.env) ?? false)),
  ];
}

export function createReporters(names: ReporterName[], ctx: ReporterContext): Reporter[] {
  return names.map((n) => REPORTERS[n].create(ctx)).filter((r): r is Reporter => r !== null);
}

/** The results files these reporters write, in table order. */
export function reporterFiles(names: ReporterName[], paths: ResultsPaths): string[] {
  return names.flatMap((n) => REPORTERS[n].file?.(paths) ?? []);
}
