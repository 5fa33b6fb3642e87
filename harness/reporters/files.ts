/**
 * The results files, one reporter per file: each keeps its own view of the run from the events
 * and rewrites its file atomically whenever the summary changes, so a run killed at any moment
 * leaves a valid file for everything that finished (files are replaced by rename, never
 * truncated in place). Each is independent: one failing leaves the others written.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../core/atomic.js';
import { renderJunit } from '../results/junit.js';
import type { ResultsPaths } from '../results/layout.js';
import type { RunSummary } from '../results/model.js';
import { loadCalls } from '../mcd/calls.js';
import { loadGoTypes } from '../mcd/daemon-view.js';
import { buildReportModel, type McoTables } from '../results/report-model.js';
import { renderHtml } from '../results/render-html.js';
import { renderMarkdown } from '../results/render-markdown.js';
import { RunLog, type StatesOf } from '../results/run-log.js';
import type { Question } from '../scenario/questions.js';
import type { Reporter, RunnerEvent } from '../run/events.js';

/** Renders the file's whole content from the summary as of now. */
export type Render = (summary: RunSummary, statesOf: StatesOf) => string | Promise<string>;

export class FileReporter implements Reporter {
  private readonly log = new RunLog();

  constructor(
    readonly name: string,
    private readonly file: string,
    private readonly render: Render,
    /** Reports say nothing useful before the first run has finished; summary and JUnit are written from the start. */
    private readonly whenEmpty: 'write' | 'wait' = 'write',
  ) {}

  async onEvent(event: RunnerEvent): Promise<void> {
    if (!this.log.add(event)) return;
    const summary = this.log.summary();
    if (!summary) return;
    if (this.whenEmpty === 'wait' && summary.runs.length === 0 && !this.log.ended) return;
    await writeFileAtomic(this.file, await this.render(summary, this.log.statesOf));
  }
}

export const renderSummaryJson: Render = (summary) => JSON.stringify(summary, null, 2) + '\n';

/** Step logs larger than this are cut from the front: the end of a log says why it failed. */
const STEP_LOG_LIMIT = 200_000;

/** JUnit with each run's commands.log as system-out. */
export function junitRender(runDir: string): Render {
  return async (summary) => {
    const logs = new Map<string, string>();
    for (const r of summary.runs) {
      if (!r.dir) continue;
      const text = await fs.readFile(path.join(runDir, r.dir, 'commands.log'), 'utf8').catch(() => '');
      logs.set(r.id, text.length > STEP_LOG_LIMIT ? `…${text.slice(-STEP_LOG_LIMIT)}` : text);
    }
    return renderJunit(summary, logs);
  };
}

let tables: Promise<McoTables> | null = null;
/** The MCO data the report reads (harness/mcd/calls.yaml, bootc-go-types.yaml), loaded once per process; their tests keep them valid. */
export function reportTables(): Promise<McoTables> {
  tables ??= Promise.all([loadCalls(), loadGoTypes()]).then(([calls, goTypes]) => ({ calls, goTypes }));
  return tables;
}

export function markdownRender(questions: Question[]): Render {
  return async (summary, statesOf) => renderMarkdown(buildReportModel(summary, questions, statesOf, await reportTables()));
}

export function htmlRender(questions: Question[]): Render {
  return async (summary, statesOf) => renderHtml(buildReportModel(summary, questions, statesOf, await reportTables()));
}

/**
 * Writes the four results files for a summary that did not come from events (`merge` combines
 * finished runs): the same renderers as the live reporters. Returns the files written.
 */
export async function writeResultFiles(paths: ResultsPaths, summary: RunSummary, questions: Question[], statesOf: StatesOf): Promise<string[]> {
  const outputs: [string, Render][] = [
    [paths.summary, renderSummaryJson],
    [paths.junit, junitRender(paths.runDir)],
    [paths.reportMd, markdownRender(questions)],
    [paths.reportHtml, htmlRender(questions)],
  ];
  for (const [file, render] of outputs) await writeFileAtomic(file, await render(summary, statesOf));
  return outputs.map(([file]) => file);
}
