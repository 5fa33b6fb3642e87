/**
 * The write-up: per question, which scenarios inform it and what each matrix cell observed, with
 * the evidence one click away; then boot-by-boot timelines, then failures with their diffs.
 * One model, rendered as Markdown (paste into a design review) and as self-contained HTML.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Question } from '../scenario/questions.js';
import { formatDuration } from '../../core/units.js';
import { formatValue } from '../run/expect.js';
import type { DeploymentSummary, Finding, RunResult, RunSummary, StateSummary } from './model.js';
import { runSlug } from './layout.js';

export const TESTBED_LABEL = 'testbed (emulated tools)';

export interface TimelineRow {
  boot: number;
  step: string;
  booted: string;
  staged: string;
  rollback: string;
  kargs: string;
  os: string;
}

export interface ReportModel {
  summary: RunSummary;
  questions: {
    question: Question;
    scenarios: {
      name: string;
      runs: RunResult[];
      /** finding id → run id → finding */
      rows: { id: string; label: string; cells: Map<string, Finding> }[];
    }[];
  }[];
  timelines: { run: RunResult; rows: TimelineRow[] }[];
  failures: RunResult[];
}

interface SavedState {
  index: number;
  machine: string;
  reason: string;
  boot: number;
  state: import('../state/types.js').HostState;
}

export async function buildReportModel(summary: RunSummary, questions: Question[], runDir: string): Promise<ReportModel> {
  const model: ReportModel = { summary, questions: [], timelines: [], failures: [] };
  for (const question of questions) {
    const runs = summary.runs.filter((r) => r.questions.includes(question.id));
    const scenarioNames = [...new Set(runs.map((r) => r.scenario))];
    model.questions.push({
      question,
      scenarios: scenarioNames.map((name) => {
        const sruns = runs.filter((r) => r.scenario === name);
        // A row's label is the step's, unless the matrix changed it per cell (then the cells say it).
        const ids: { id: string; label: string }[] = [];
        for (const r of sruns) {
          for (const f of r.findings) {
            const row = ids.find((x) => x.id === f.id);
            if (!row) ids.push({ id: f.id, label: f.label });
            else if (row.label !== f.label) row.label = '';
          }
        }
        return {
          name,
          runs: sruns,
          rows: ids.map(({ id, label }) => ({
            id,
            label,
            cells: new Map(sruns.flatMap((r) => r.findings.filter((f) => f.id === id).map((f) => [r.id, f] as const))),
          })),
        };
      }),
    });
  }
  for (const run of summary.runs) {
    if (!run.dir) continue;
    model.timelines.push({ run, rows: await timeline(path.join(runDir, run.dir)) });
    if (['failed', 'error', 'timed-out', 'flaky'].includes(run.verdict)) model.failures.push(run);
  }
  return model;
}

async function timeline(dir: string): Promise<TimelineRow[]> {
  let names: string[] = [];
  try {
    names = (await fs.readdir(dir)).filter((n) => /^state-\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const states: SavedState[] = [];
  for (const n of names) {
    try {
      states.push(JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as SavedState);
    } catch {
      // a state file cut short by a kill: skip it, the rest is still valid
    }
  }
  states.sort((a, b) => a.index - b.index);
  const rows: TimelineRow[] = [];
  let lastKey = '';
  for (const s of states) {
    const st = s.state;
    const row: TimelineRow = {
      boot: s.boot,
      step: s.reason,
      booted: deployment(st.booted),
      staged: deployment(st.staged),
      rollback: deployment(st.rollback),
      kargs: st.kargs.filter((k) => !/^(BOOT_IMAGE|root|rw|console|ostree)=?/.test(k)).join(' '),
      os: st.osRelease.PRETTY_NAME ?? st.osRelease.VERSION ?? '',
    };
    // Only rows where something changed: the boot-by-boot story, not every read.
    const key = JSON.stringify({ ...row, step: '' });
    if (key !== lastKey) rows.push(row);
    lastKey = key;
  }
  return rows;
}

type ViewLike = { image: string | null; version: string | null; requestedPackages: string[]; incompatible: boolean | null; checksum: string | null } | null;

function deployment(d: ViewLike): string {
  if (!d) return '—';
  const parts = [d.image ?? `ostree ${d.checksum?.slice(0, 10) ?? '?'}`];
  if (d.version) parts.push(d.version);
  if (d.requestedPackages.length) parts.push(`+${d.requestedPackages.join(',')}`);
  if (d.incompatible) parts.push('incompatible');
  return parts.join(' ');
}

export function deploymentSummaryText(d: DeploymentSummary | null): string {
  return deployment(d ? { image: d.image, version: d.version, requestedPackages: d.packages, incompatible: d.incompatible, checksum: d.checksum } : null);
}

function stateText(s: StateSummary | null | undefined): string {
  if (!s) return '—';
  return `booted ${deploymentSummaryText(s.booted)}; staged ${deploymentSummaryText(s.staged)}; rollback ${deploymentSummaryText(s.rollback)}`;
}

export function anchor(runId: string, findingId: string): string {
  return `f-${runSlug(runId)}-${findingId}`.replace(/[^A-Za-z0-9_-]/g, '-');
}

function cellText(f: Finding | undefined): string {
  if (!f) return '—';
  const mark = f.ok === true ? '✅ ' : f.ok === false ? '❌ ' : '';
  return `${mark}${f.outcome}`;
}

function observedText(f: Finding): string {
  if (f.observed) return Object.entries(f.observed).map(([k, v]) => `${k}: ${typeof v === 'object' && v !== null && 'image' in v ? deploymentSummaryText(v as DeploymentSummary) : formatValue(v)}`).join('; ');
  if (f.checks) return f.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.check} expected ${formatValue(c.expected)}, was ${formatValue(c.actual)}`).join('; ');
  return '';
}

const VERDICT_MARK: Record<string, string> = { passed: '✅', failed: '❌', error: '💥', flaky: '⚠️', interrupted: '⏹', 'timed-out': '⏱', skipped: '⏭' };

// ---------------------------------------------------------------------------------------------
// Markdown

const mdCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderMarkdown(m: ReportModel): string {
  const s = m.summary;
  const out: string[] = [];
  out.push(`# bootpath report — ${s.runId}`, '');
  if (s.testbed) {
    out.push(`> **${TESTBED_LABEL}.** Runs marked *testbed* used bootpath's own Debian/OSTree image with stand-in \`rpm-ostree\` and \`bootc\` commands. They test bootpath itself; they are **not** evidence about real rpm-ostree or bootc behaviour.`, '');
  }
  out.push(
    `Started ${s.startedAt}, took ${formatDuration(s.durationMs)} on ${s.host.hostname} (${s.host.cpus} CPUs, ${s.host.memoryMiB} MiB, accel **${s.host.accel}**: ${s.host.accelReason}).`,
    '',
    `**${s.totals.runs} runs:** ${Object.entries(s.totals).filter(([k, v]) => k !== 'runs' && v > 0).map(([k, v]) => `${VERDICT_MARK[k] ?? ''} ${v} ${k}`).join(', ') || 'none'}${s.interrupted ? ' — **interrupted**' : ''}`,
    '',
  );
  out.push('| run | verdict | time | images |', '|---|---|---|---|');
  for (const r of s.runs) {
    out.push(`| ${mdCell(r.id)}${r.testbed ? ' *(testbed)*' : ''} | ${VERDICT_MARK[r.verdict] ?? ''} ${r.verdict} | ${formatDuration(r.durationMs)} | ${mdCell(r.machines.map((mm) => `${mm.image.image}${mm.image.version ? ` ${mm.image.version}` : ''}`).join(', '))} |`);
  }
  out.push('');

  out.push('## Questions', '');
  for (const q of m.questions) {
    out.push(`### ${q.question.id} ${q.question.slug} — ${q.question.title}`, '', q.question.text, '');
    if (q.scenarios.length === 0) {
      out.push('_No scenario in this run informs this question._', '');
      continue;
    }
    for (const sc of q.scenarios) {
      const tb = sc.runs.some((r) => r.testbed) ? ` *(${TESTBED_LABEL})*` : '';
      out.push(`**Scenario \`${sc.name}\`**${tb}: ${sc.runs.map((r) => `${VERDICT_MARK[r.verdict] ?? ''} ${r.id}`).join(', ')}`, '');
      if (sc.rows.length === 0) {
        out.push('_This scenario records no findings; its verdicts are above._', '');
        continue;
      }
      out.push(`| what was tried | ${sc.runs.map((r) => mdCell(cellLabel(r))).join(' | ')} |`, `|---|${sc.runs.map(() => '---').join('|')}|`);
      for (const row of sc.rows) {
        const cells = sc.runs.map((r) => {
          const f = row.cells.get(r.id);
          return f ? `[${mdCell(cellText(f))}](#${anchor(r.id, f.id)})` : '—';
        });
        out.push(`| **${row.id}**${row.label ? ` — ${mdCell(row.label)}` : ''} | ${cells.join(' | ')} |`);
      }
      out.push('');
    }
  }

  out.push('## Evidence', '');
  for (const r of s.runs) {
    for (const f of r.findings) {
      out.push(`<a id="${anchor(r.id, f.id)}"></a>`, `#### ${f.id} — ${r.id}${f.testbed ? ` *(${TESTBED_LABEL})*` : ''}`, '');
      out.push(`- step ${f.step + 1}: ${f.label} → **${f.outcome}**`);
      if (f.command) out.push(`- command: \`${f.command}\` (exit ${f.exitCode ?? '?'})`);
      if (f.stderrExcerpt) out.push(`- stderr: \`${f.stderrExcerpt.split('\n').slice(-3).join(' ⏎ ')}\``);
      const obs = observedText(f);
      if (obs) out.push(`- observed: ${obs}`);
      if (f.before !== undefined) out.push(`- before: ${stateText(f.before)}`);
      if (f.after !== undefined) out.push(`- after: ${stateText(f.after)}`);
      if (f.after?.disagreements.length) out.push(`- bootc vs rpm-ostree: ${f.after.disagreements.join('; ')}`);
      if (f.note) out.push(`- note: ${f.note}`);
      out.push(`- evidence files: \`${r.dir}/steps.jsonl\`, \`${r.dir}/commands.log\``, '');
    }
  }

  out.push('## Timelines', '');
  for (const t of m.timelines) {
    out.push(`### ${t.run.id}${t.run.testbed ? ` *(${TESTBED_LABEL})*` : ''}`, '');
    if (t.rows.length === 0) {
      out.push('_No state was read._', '');
      continue;
    }
    out.push('| boot | after | booted | staged | rollback | kargs | OS |', '|---|---|---|---|---|---|---|');
    for (const row of t.rows) out.push(`| ${row.boot} | ${mdCell(row.step)} | ${mdCell(row.booted)} | ${mdCell(row.staged)} | ${mdCell(row.rollback)} | ${mdCell(row.kargs)} | ${mdCell(row.os)} |`);
    out.push('');
  }

  if (m.failures.length > 0) {
    out.push('## Failures', '');
    for (const r of m.failures) {
      out.push(`### ${VERDICT_MARK[r.verdict] ?? ''} ${r.id} — ${r.verdict}${r.errorKind ? ` (${r.errorKind})` : ''}`, '', '```', r.message ?? '', '```', '');
    }
  }
  return out.join('\n');
}

function cellLabel(r: RunResult): string {
  const parts = Object.entries(r.cell).map(([k, v]) => `${k}=${String(v)}`);
  return parts.length > 0 ? parts.join(', ') : 'run';
}

// ---------------------------------------------------------------------------------------------
// HTML: the same content, self-contained (inline CSS, no external assets).

const h = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function renderHtml(m: ReportModel): string {
  const s = m.summary;
  const parts: string[] = [];
  parts.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bootpath report ${h(s.runId)}</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#1b1f24}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f6f8fa}.ok{background:#e6ffec}.bad{background:#ffebe9}.obs{background:#f6f8fa}
.testbed{display:inline-block;background:#fff8c5;border:1px solid #d4a72c;border-radius:4px;padding:0 6px;font-size:12px}
.banner{background:#fff8c5;border:1px solid #d4a72c;padding:.6em 1em;border-radius:6px}
pre{background:#f6f8fa;padding:.6em;overflow:auto}code{font-size:12px}details{margin:.3em 0}
</style></head><body>`);
  parts.push(`<h1>bootpath report — ${h(s.runId)}</h1>`);
  if (s.testbed) parts.push(`<p class="banner"><b>${TESTBED_LABEL}.</b> Runs marked <span class="testbed">testbed</span> used bootpath's own Debian/OSTree image with stand-in rpm-ostree and bootc commands. They test bootpath itself; they are <b>not</b> evidence about real rpm-ostree or bootc behaviour.</p>`);
  parts.push(`<p>Started ${h(s.startedAt)}, took ${h(formatDuration(s.durationMs))} on ${h(s.host.hostname)} (${s.host.cpus} CPUs, accel <b>${h(s.host.accel)}</b>: ${h(s.host.accelReason)}).</p>`);
  parts.push('<table><tr><th>run</th><th>verdict</th><th>time</th><th>images</th></tr>');
  for (const r of s.runs) {
    parts.push(`<tr class="${r.verdict === 'passed' ? 'ok' : r.verdict === 'skipped' ? 'obs' : 'bad'}"><td>${h(r.id)} ${r.testbed ? '<span class="testbed">testbed</span>' : ''}</td><td>${h(r.verdict)}</td><td>${h(formatDuration(r.durationMs))}</td><td>${h(r.machines.map((mm) => `${mm.image.image}${mm.image.version ? ` ${mm.image.version}` : ''}`).join(', '))}</td></tr>`);
  }
  parts.push('</table><h2>Questions</h2>');
  for (const q of m.questions) {
    parts.push(`<h3>${h(q.question.id)} ${h(q.question.slug)} — ${h(q.question.title)}</h3><p>${h(q.question.text)}</p>`);
    if (q.scenarios.length === 0) parts.push('<p><i>No scenario in this run informs this question.</i></p>');
    for (const sc of q.scenarios) {
      parts.push(`<p><b>Scenario <code>${h(sc.name)}</code></b> ${sc.runs.some((r) => r.testbed) ? '<span class="testbed">testbed (emulated tools)</span>' : ''}</p>`);
      if (sc.rows.length === 0) {
        parts.push(`<p>${sc.runs.map((r) => `${h(r.id)}: ${h(r.verdict)}`).join(', ')}</p>`);
        continue;
      }
      parts.push(`<table><tr><th>what was tried</th>${sc.runs.map((r) => `<th>${h(cellLabel(r))}</th>`).join('')}</tr>`);
      for (const row of sc.rows) {
        parts.push(`<tr><td><b>${h(row.id)}</b>${row.label ? `<br>${h(row.label)}` : ''}</td>`);
        for (const r of sc.runs) {
          const f = row.cells.get(r.id);
          if (!f) {
            parts.push('<td>—</td>');
            continue;
          }
          const cls = f.ok === true ? 'ok' : f.ok === false ? 'bad' : 'obs';
          parts.push(`<td class="${cls}"><a href="#${anchor(r.id, f.id)}">${h(cellText(f))}</a>${f.stderrExcerpt ? `<br><code>${h(f.stderrExcerpt.split('\n').slice(-1)[0]!.slice(0, 160))}</code>` : ''}</td>`);
        }
        parts.push('</tr>');
      }
      parts.push('</table>');
    }
  }
  parts.push('<h2>Evidence</h2>');
  for (const r of s.runs) {
    for (const f of r.findings) {
      parts.push(`<details id="${anchor(r.id, f.id)}" open><summary><b>${h(f.id)}</b> — ${h(r.id)} → ${h(f.outcome)} ${f.testbed ? '<span class="testbed">testbed</span>' : ''}</summary><ul>`);
      parts.push(`<li>step ${f.step + 1}: ${h(f.label)}</li>`);
      if (f.command) parts.push(`<li>command: <code>${h(f.command)}</code> (exit ${h(String(f.exitCode ?? '?'))})</li>`);
      if (f.stderrExcerpt) parts.push(`<li>stderr:<pre>${h(f.stderrExcerpt)}</pre></li>`);
      const obs = observedText(f);
      if (obs) parts.push(`<li>observed: ${h(obs)}</li>`);
      if (f.before !== undefined) parts.push(`<li>before: ${h(stateText(f.before))}</li>`);
      if (f.after !== undefined) parts.push(`<li>after: ${h(stateText(f.after))}</li>`);
      if (f.note) parts.push(`<li>note: ${h(f.note)}</li>`);
      parts.push(`<li>files: <code>${h(r.dir)}/steps.jsonl</code>, <code>${h(r.dir)}/commands.log</code></li></ul></details>`);
    }
  }
  parts.push('<h2>Timelines</h2>');
  for (const t of m.timelines) {
    parts.push(`<h3>${h(t.run.id)} ${t.run.testbed ? '<span class="testbed">testbed</span>' : ''}</h3>`);
    parts.push('<table><tr><th>boot</th><th>after</th><th>booted</th><th>staged</th><th>rollback</th><th>kargs</th><th>OS</th></tr>');
    for (const row of t.rows) parts.push(`<tr><td>${row.boot}</td><td>${h(row.step)}</td><td>${h(row.booted)}</td><td>${h(row.staged)}</td><td>${h(row.rollback)}</td><td>${h(row.kargs)}</td><td>${h(row.os)}</td></tr>`);
    parts.push('</table>');
  }
  if (m.failures.length > 0) {
    parts.push('<h2>Failures</h2>');
    for (const r of m.failures) parts.push(`<h3>${h(r.id)} — ${h(r.verdict)}${r.errorKind ? ` (${h(r.errorKind)})` : ''}</h3><pre>${h(r.message ?? '')}</pre>`);
  }
  parts.push('</body></html>');
  return parts.join('\n');
}
