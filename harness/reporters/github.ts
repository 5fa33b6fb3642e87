/** In GitHub Actions: the run's report, appended to the job's step summary ($GITHUB_STEP_SUMMARY). */
import { promises as fs } from 'node:fs';
import type { ResultsPaths } from '../results/layout.js';
import type { Reporter, RunnerEvent } from '../run/events.js';

export class GithubSummaryReporter implements Reporter {
  constructor(
    private readonly file: string,
    private readonly paths: ResultsPaths,
  ) {}

  async onEvent(e: RunnerEvent): Promise<void> {
    if (e.type !== 'run:end') return;
    // The results writer runs before this reporter on the same event, so report.md is complete.
    const report = await fs.readFile(this.paths.reportMd, 'utf8').catch(() => '');
    // Step summaries are limited to 1 MiB; the question tables come first in the report.
    const text = report.length > 900_000 ? `${report.slice(0, 900_000)}\n\n_(truncated; see report.md in the uploaded results)_\n` : report;
    await fs.appendFile(this.file, `${text}\n`);
  }
}
