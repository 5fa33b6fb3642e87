/**
 * Writes results/<run-id>/ from runner events, incrementally and atomically: a run killed at any
 * moment leaves valid JSON for everything that finished (summary.json is rewritten after every
 * scenario run; each file is replaced by rename, never truncated in place).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../core/atomic.js';
import type { Question } from '../scenario/questions.js';
import type { Reporter, RunnerEvent } from '../run/events.js';
import { countVerdicts } from './verdicts.js';
import { renderJunit } from './junit.js';
import type { RunResult, RunSummary } from './model.js';
import { RESULTS_SCHEMA_VERSION } from './model.js';
import type { ResultsPaths } from './layout.js';
import { buildReportModel, renderHtml, renderMarkdown } from './report.js';

export class ResultsWriter implements Reporter {
  private summary: RunSummary | null = null;
  private readonly finished: RunResult[] = [];

  constructor(
    private readonly paths: ResultsPaths,
    private readonly questions: Question[],
    private readonly header: () => Omit<RunSummary, 'runs' | 'totals' | 'finishedAt' | 'durationMs' | 'interrupted' | 'testbed'>,
  ) {}

  async onEvent(event: RunnerEvent): Promise<void> {
    switch (event.type) {
      case 'run:begin':
        await fs.mkdir(this.paths.runDir, { recursive: true });
        await this.pointLatest();
        await this.writeAll(false);
        break;
      case 'scenario:end':
        if (!event.willRetry) this.finished.push(event.result);
        await this.writeAll(false);
        break;
      case 'run:end':
        this.summary = event.summary;
        await this.writeAll(true);
        break;
      default:
        break;
    }
  }

  /** The summary as of now: the runner's final one, or one built from what has finished so far. */
  private current(): RunSummary {
    if (this.summary) return this.summary;
    const totals = countVerdicts(this.finished.map((r) => r.verdict));
    const header = this.header();
    return {
      ...header,
      schemaVersion: RESULTS_SCHEMA_VERSION,
      finishedAt: null,
      durationMs: Date.now() - Date.parse(header.startedAt),
      totals,
      runs: [...this.finished],
      testbed: this.finished.some((r) => r.testbed),
      interrupted: false,
    };
  }

  private async writeAll(final: boolean): Promise<void> {
    const summary = this.current();
    await writeJsonAtomic(this.paths.summary, summary);
    const logs = new Map<string, string>();
    for (const r of summary.runs) {
      if (!r.dir) continue;
      const text = await fs.readFile(path.join(this.paths.runDir, r.dir, 'commands.log'), 'utf8').catch(() => '');
      logs.set(r.id, text.length > 200_000 ? `…${text.slice(-200_000)}` : text);
    }
    await writeFileAtomic(this.paths.junit, renderJunit(summary, logs));
    if (final || summary.runs.length > 0) {
      const model = await buildReportModel(summary, this.questions, this.paths.runDir);
      await writeFileAtomic(this.paths.reportMd, renderMarkdown(model));
      await writeFileAtomic(this.paths.reportHtml, renderHtml(model));
    }
  }

  /** results/latest → the newest run (a relative symlink, swapped atomically). */
  private async pointLatest(): Promise<void> {
    const tmp = `${this.paths.latest}.${process.pid}.tmp`;
    await fs.rm(tmp, { force: true });
    await fs.symlink(path.basename(this.paths.runDir), tmp);
    await fs.rename(tmp, this.paths.latest);
  }
}
