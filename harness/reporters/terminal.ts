/**
 * Terminal views. `line`: one plain line per event, for CI logs. `tty`: one live line per running
 * scenario (current step, elapsed time) redrawn in place, then a final table.
 */
import { formatDuration } from '../../core/units.js';
import type { Reporter, RunnerEvent } from '../run/events.js';
import type { RunSummary } from '../results/model.js';
import { TESTBED_NOTE } from '../results/testbed.js';
import { STEP_STATUS, VERDICTS, totalsText } from '../results/verdicts.js';

type Write = (text: string) => void;

function clock(): string {
  return new Date().toISOString().slice(11, 19);
}

export class LineReporter implements Reporter {
  readonly name = 'line';
  constructor(private readonly write: Write) {}

  onEvent(e: RunnerEvent): void {
    switch (e.type) {
      case 'run:begin':
        this.write(`[${clock()}] run ${e.runId}: ${e.plans.length} run(s), parallel ${e.parallel}, accel ${e.accel} (${e.accelReason})\n[${clock()}] results: ${e.resultsDir}\n`);
        break;
      case 'scenario:begin':
        this.write(`[${clock()}] ${e.plan.id} ▶ start${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}\n`);
        break;
      case 'step:begin':
        this.write(`[${clock()}] ${e.plan.id}   ${e.step.index + 1}/${e.plan.steps.length} ${e.step.label}\n`);
        break;
      case 'step:end': {
        const r = e.result;
        const tail = STEP_STATUS[r.status].broke ? `\n${indent(r.message ?? '', '           ')}` : r.findingId ? ` → finding ${r.findingId}${r.message ? `: ${r.message.split('\n')[0]}` : ''}` : '';
        this.write(`[${clock()}] ${e.plan.id}   ${STEP_STATUS[r.status].word} ${formatDuration(r.durationMs)}${tail}\n`);
        break;
      }
      case 'machine:console':
        if (e.event.type === 'console-problem' || e.event.type === 'died') this.write(`[${clock()}] ${e.plan.id}   machine ${e.machine}: ${e.event.type === 'died' ? e.event.message : `console: ${e.event.line}`}\n`);
        break;
      case 'scenario:end':
        this.write(`[${clock()}] ${e.plan.id} ■ ${VERDICTS[e.result.verdict].word} in ${formatDuration(e.result.durationMs)}${e.result.message && e.result.verdict !== 'passed' ? `\n${indent(e.result.message, '    ')}` : ''}${e.willRetry ? '\n    (retrying)' : ''}\n`);
        break;
      case 'notice':
        this.write(`[${clock()}] ${e.plan ? `${e.plan.id}: ` : ''}${e.message}\n`);
        break;
      case 'run:end':
        this.write(renderFinalTable(e.summary));
        break;
    }
  }
}

function indent(text: string, pad: string): string {
  return text.split('\n').map((l) => pad + l).join('\n');
}

export function renderFinalTable(s: RunSummary): string {
  const width = Math.max(3, ...s.runs.map((r) => r.id.length));
  const lines = ['', `${'RUN'.padEnd(width)}  VERDICT      TIME     FINDINGS`];
  for (const r of s.runs) {
    lines.push(`${r.id.padEnd(width)}  ${(VERDICTS[r.verdict].word).padEnd(11)}  ${formatDuration(r.durationMs).padEnd(7)}  ${r.findings.length}${r.testbed ? '  (testbed)' : ''}`);
  }
  lines.push('', `${s.totals.runs} run(s): ${totalsText(s.totals)} in ${formatDuration(s.durationMs)}${s.interrupted ? ' (interrupted)' : ''}`);
  if (s.testbed) lines.push(TESTBED_NOTE);
  return lines.join('\n') + '\n';
}

/** Live view: redraws one line per running scenario in place (ANSI), prints finished ones above. */
export class TtyReporter implements Reporter {
  readonly name = 'tty';
  private readonly running = new Map<string, { step: string; since: number; started: number }>();
  private drawn = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly write: Write, private readonly columns = () => process.stdout.columns || 100) {}

  onEvent(e: RunnerEvent): void {
    switch (e.type) {
      case 'run:begin':
        this.write(`run ${e.runId}: ${e.plans.length} run(s), parallel ${e.parallel}, accel ${e.accel}\n  (${e.accelReason})\nresults: ${e.resultsDir}\n`);
        this.timer = setInterval(() => this.draw(), 1000);
        this.timer.unref();
        break;
      case 'scenario:begin':
        this.running.set(e.plan.id, { step: 'starting machine', since: Date.now(), started: Date.now() });
        break;
      case 'step:begin': {
        const r = this.running.get(e.plan.id);
        if (r) Object.assign(r, { step: `${e.step.index + 1}/${e.plan.steps.length} ${e.step.label}`, since: Date.now() });
        break;
      }
      case 'step:end':
        if (STEP_STATUS[e.result.status].broke) this.above(`  ${e.plan.id}: step ${e.step.index + 1} ${e.result.status}: ${(e.result.message ?? '').split('\n')[0]}`);
        break;
      case 'scenario:end':
        this.running.delete(e.plan.id);
        this.above(`${(VERDICTS[e.result.verdict].word).padEnd(7)} ${e.plan.id} (${formatDuration(e.result.durationMs)})${e.willRetry ? ' — retrying' : ''}`);
        break;
      case 'notice':
        this.above(`${e.plan ? `${e.plan.id}: ` : ''}${e.message}`);
        break;
      case 'run:end':
        if (this.timer) clearInterval(this.timer);
        this.clear();
        this.write(renderFinalTable(e.summary));
        return;
      default:
        return;
    }
    this.draw();
  }

  private above(line: string): void {
    this.clear();
    this.write(line + '\n');
    this.draw();
  }

  private clear(): void {
    if (this.drawn > 0) this.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    this.clear();
    const width = this.columns();
    const lines = [...this.running.entries()].map(([id, r]) => `  ▶ ${id} ${formatDuration(Date.now() - r.started)} · ${r.step} (${formatDuration(Date.now() - r.since)})`.slice(0, width - 1));
    if (lines.length > 0) this.write(lines.join('\n') + '\n');
    this.drawn = lines.length;
  }
}
