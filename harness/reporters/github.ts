/** In GitHub Actions: the run's report, appended to the job's step summary ($GITHUB_STEP_SUMMARY). */
import { promises as fs } from 'node:fs';
import { buildReportModel } from '../results/report-model.js';
import { reportTables } from './files.js';
import { renderMarkdown } from '../results/render-markdown.js';
import { RunLog } from '../results/run-log.js';
import type { Question } from '../scenario/questions.js';
import type { Reporter, RunnerEvent } from '../run/events.js';

/** Step summaries are limited to 1 MiB; the question tables come first in the report. */
const STEP_SUMMARY_LIMIT = 900_000;

export class GithubSummaryReporter implements Reporter {
  readonly name = 'github';
  private readonly log = new RunLog();

  constructor(
    private readonly file: string,
    private readonly questions: Question[],
  ) {}

  async onEvent(e: RunnerEvent): Promise<void> {
    this.log.add(e);
    if (e.type !== 'run:end') return;
    const report = renderMarkdown(buildReportModel(e.summary, this.questions, this.log.statesOf, await reportTables()));
    await fs.appendFile(this.file, `${githubSummaryText(report)}\n`);
  }
}

export function githubSummaryText(report: string): string {
  return report.length > STEP_SUMMARY_LIMIT ? `${report.slice(0, STEP_SUMMARY_LIMIT)}\n\n_(truncated; see report.md in the uploaded results)_\n` : report;
}
