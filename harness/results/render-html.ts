/** The report model as one self-contained HTML file (inline CSS, no scripts, no network). */
import { phases, Q1_HEADERS, type OutcomeStatus, type Q1Table } from '../mcd/q1-table.js';
import type { ReportModel } from './report-model.js';
import { TESTBED_LABEL, testbedDisclaimer } from './testbed.js';
import { STEP_STATUS, VERDICTS, type Tone } from './verdicts.js';

const h = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const TONE_CLASS: Record<Tone, string> = { ok: 'ok', bad: 'bad', neutral: 'obs' };
const tb = (testbed: boolean) => (testbed ? ` <span class="testbed">${h(TESTBED_LABEL)}</span>` : '');

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#1b1f24}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f6f8fa}.ok{background:#e6ffec}.bad{background:#ffebe9}.obs{background:#f6f8fa}
.testbed{display:inline-block;background:#fff8c5;border:1px solid #d4a72c;border-radius:4px;padding:0 6px;font-size:12px}
.banner{background:#fff8c5;border:1px solid #d4a72c;padding:.6em 1em;border-radius:6px}
pre{background:#f6f8fa;padding:.6em;overflow:auto}code{font-size:12px}details{margin:.3em 0}
td.none{color:#6e7781;font-style:italic}
.bars{display:flex;gap:2px;margin:.4em 0;max-width:100%}
.bar{display:block;min-width:4px;height:22px;border:1px solid #d0d7de;border-radius:3px;font-size:11px;line-height:22px;overflow:hidden;text-align:center;color:#1b1f24;text-decoration:none}
.bar.ok{background:#aceebb}.bar.bad{background:#ff8182}.bar.obs{background:#d0d7de}.bar.reboot{border-left:3px solid #0969da}
.legend{font-size:12px;color:#57606a}`;

/** The Q1 texts are written for Markdown: their `code` spans become <code> here (after escaping). */
const inlineCode = (text: string) => h(text).replace(/`([^`]+)`/gu, '<code>$1</code>');

const Q1_TONE: Record<OutcomeStatus, string> = { ok: 'ok', failed: 'bad', 'not-possible': 'obs', 'not-run': 'none' };

function q1Html(t: Q1Table): string {
  const testbed = t.rows.some((r) => phases.some((p) => r.cells[p].outcome?.evidence === 'testbed'));
  const head = Q1_HEADERS.map((c) => `<th>${c}</th>`).join('');
  const rows = t.rows.map((r) => {
    const cells = phases.map((p) => `<td class="${Q1_TONE[r.cells[p].outcome?.status ?? 'not-run']}">${inlineCode(r.cells[p].text)}</td>`).join('');
    const eq = r.equivalence === 'none' ? `<b>none</b>: ${inlineCode(r.bootcEquivalent.slice('none: '.length))}` : inlineCode(r.bootcEquivalent);
    return `<tr><td><code>${h(r.call)}</code></td><td>${h(r.functions)}</td><td>${eq}</td>${cells}</tr>`;
  });
  return `<p><b>The machine-config-daemon's calls, one row per call shape</b>${tb(testbed)} — outcomes from the <code>mcd:</code> steps of this run; equivalence data from <code>harness/mcd/calls.yaml</code> (MCO <code>${h(t.mcoCommit.slice(0, 8))}</code>, bootc ${h(t.bootcTag)}).</p><table><tr>${head}</tr>${rows.join('')}</table>`;
}

export function renderHtml(m: ReportModel): string {
  const p: string[] = [`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bootpath report ${h(m.runId)}</title><style>\n${STYLE}\n</style></head><body>`];
  p.push(`<h1>bootpath report — ${h(m.runId)}</h1>`);
  if (m.testbed) p.push(`<p class="banner">${testbedDisclaimer((t) => `<b>${h(t)}</b>`)}</p>`);
  p.push(`<p>${h(m.overview)}</p>`);
  p.push(`<p><b>${m.totalRuns} runs:</b> ${m.totals.map((t) => `${VERDICTS[t.verdict].emoji} ${t.count} ${h(t.verdict)}`).join(', ') || 'none'}${m.interrupted ? ' — <b>interrupted</b>' : ''}</p>`);
  p.push('<table><tr><th>run</th><th>verdict</th><th>time</th><th>images</th></tr>');
  for (const r of m.runs) p.push(`<tr class="${TONE_CLASS[r.tone]}"><td>${h(r.id)}${tb(r.testbed)}</td><td>${VERDICTS[r.verdict].emoji} ${h(r.verdict)}</td><td>${h(r.duration)}</td><td>${h(r.images)}</td></tr>`);
  p.push('</table>');

  p.push('<h2>Questions</h2>');
  for (const q of m.questions) {
    p.push(`<h3>${h(q.id)} ${h(q.slug)} — ${h(q.title)}</h3><p>${h(q.text)}</p>`);
    if (q.id === 'Q1' && m.q1) p.push(q1Html(m.q1));
    if (q.id === 'Q5' && m.daemonView.length > 0) {
      p.push('<p><b>What a bootc-driven daemon would read from these <code>bootc status --json</code> outputs</b> (MCO <code>pkg/daemon/bootc.go</code> types, <code>harness/mcd/bootc-go-types.yaml</code>):</p><ul>');
      for (const d of m.daemonView) p.push(`<li><code>${h(d.runId)}</code>${tb(d.testbed)} <b>${h(d.id)}</b>: ${h(d.message)} — state reads ${h(d.states.map((s) => `${s.index} (${s.reason})`).join(', '))}</li>`);
      p.push('</ul>');
    }
    if (q.scenarios.length === 0) p.push('<p><i>No scenario in this run informs this question.</i></p>');
    for (const sc of q.scenarios) {
      p.push(`<p><b>Scenario <code>${h(sc.name)}</code></b>${tb(sc.testbed)}: ${sc.runs.map((r) => `${VERDICTS[r.verdict].emoji} ${h(r.id)}`).join(', ')}</p>`);
      if (sc.rows.length === 0) {
        p.push('<p><i>This scenario records no findings; its verdicts are above.</i></p>');
        continue;
      }
      p.push(`<table><tr><th>what was tried</th>${sc.columns.map((c) => `<th>${h(c)}</th>`).join('')}</tr>`);
      for (const row of sc.rows) {
        const cells = row.cells.map((c) => (c ? `<td class="${TONE_CLASS[c.tone]}"><a href="#${c.anchor}">${h(c.text)}</a>${c.detail ? `<br><code>${h(c.detail)}</code>` : ''}</td>` : '<td class="none">not run</td>'));
        p.push(`<tr><td><b>${h(row.id)}</b>${row.label ? `<br>${h(row.label)}` : ''}</td>${cells.join('')}</tr>`);
      }
      p.push('</table><ul>');
      for (const row of sc.rows) p.push(`<li><b>${h(row.id)}</b>: ${h(row.answer)}</li>`);
      p.push('</ul>');
    }
  }

  p.push('<h2>Evidence</h2>');
  if (m.evidence.length === 0) p.push('<p><i>No findings were recorded.</i></p>');
  for (const e of m.evidence) {
    p.push(`<details id="${e.anchor}" open><summary><b>${h(e.findingId)}</b> — ${h(e.runId)} → ${h(e.outcome)}${tb(e.testbed)}</summary><ul>`);
    for (const f of e.fields) {
      const body = f.style === 'pre' ? `<pre>${h(f.text)}</pre>` : f.style === 'code' ? `<code>${h(f.text)}</code>` : h(f.text);
      p.push(`<li>${h(f.label)}: ${body}</li>`);
    }
    p.push('</ul></details>');
  }

  p.push('<h2>Timelines</h2>');
  for (const d of m.details) {
    p.push(`<h3>${VERDICTS[d.verdict].emoji} ${h(d.runId)}${tb(d.testbed)}${d.attempts > 1 ? ` (attempt ${d.attempts})` : ''} — ${h(d.duration)}</h3>`);
    p.push(`<p>logs: <a href="${h(d.dir)}/commands.log">commands.log</a> · <a href="${h(d.dir)}/steps.jsonl">steps.jsonl</a> · <a href="${h(d.dir)}/">run folder</a> (console logs)</p>`);
    if (d.steps.length > 0) {
      // The run as a picture: one bar per step, as wide as its share of the time; reboots edged blue.
      const bars = d.steps.map((st) => `<a class="bar ${TONE_CLASS[st.tone]}${st.reboot ? ' reboot' : ''}" style="flex-grow:${Math.max(st.share, 0.01).toFixed(3)}" href="#${st.anchor}" title="${h(`${st.number}. ${st.label} — ${st.status}, ${st.duration}`)}">${st.number}</a>`);
      p.push(`<div class="bars">${bars.join('')}</div><p class="legend">one bar per step, width by duration; blue edge: reboot; red: failed</p>`);
      p.push('<table><tr><th>#</th><th>step</th><th>machine</th><th>status</th><th>time</th></tr>');
      for (const st of d.steps) p.push(`<tr id="${st.anchor}" class="${TONE_CLASS[st.tone]}"><td>${st.number}</td><td>${h(st.label)}${st.message ? `<br><code>${h(st.message)}</code>` : ''}</td><td>${h(st.machine)}</td><td>${STEP_STATUS[st.status].emoji} ${h(st.status)}</td><td>${h(st.duration)}</td></tr>`);
      p.push('</table>');
    }
    if (d.timeline.length === 0) {
      p.push('<p><i>No state was read.</i></p>');
      continue;
    }
    p.push('<table><tr><th>boot</th><th>after</th><th>booted</th><th>staged</th><th>rollback</th><th>kargs</th><th>OS</th></tr>');
    for (const row of d.timeline) p.push(`<tr><td>${row.boot}</td><td>${h(row.step)}</td><td>${h(row.booted)}</td><td>${h(row.staged)}</td><td>${h(row.rollback)}</td><td>${h(row.kargs)}</td><td>${h(row.os)}</td></tr>`);
    p.push('</table>');
  }

  if (m.failures.length > 0) {
    p.push('<h2>Failures</h2>');
    for (const f of m.failures) p.push(`<h3>${VERDICTS[f.verdict].emoji} ${h(f.runId)} — ${h(f.verdict)}${f.errorKind ? ` (${h(f.errorKind)})` : ''}</h3><pre>${h(f.message)}</pre>`);
  }
  p.push('</body></html>');
  return p.join('\n');
}
