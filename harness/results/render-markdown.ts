/** The report model as Markdown: paste into a design review or a GitHub step summary. */
import type { ReportModel } from './report-model.js';
import { TESTBED_LABEL, testbedDisclaimer } from './testbed.js';
import { STEP_STATUS, VERDICTS } from './verdicts.js';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string) => `\`${s.replace(/`/g, "'")}\``;
const tb = (testbed: boolean) => (testbed ? ` · *${TESTBED_LABEL}*` : '');

export function renderMarkdown(m: ReportModel): string {
  const out: string[] = [`# bootpath report — ${m.runId}`, ''];
  if (m.testbed) out.push(`> ${testbedDisclaimer((t) => `**${t}**`)}`, '');
  out.push(m.overview, '');
  out.push(`**${m.totalRuns} runs:** ${m.totals.map((t) => `${VERDICTS[t.verdict].emoji} ${t.count} ${t.verdict}`).join(', ') || 'none'}${m.interrupted ? ' — **interrupted**' : ''}`, '');
  out.push('| run | verdict | time | images |', '|---|---|---|---|');
  for (const r of m.runs) out.push(`| ${cell(r.id)}${r.testbed ? ' *(testbed)*' : ''} | ${VERDICTS[r.verdict].emoji} ${r.verdict} | ${r.duration} | ${cell(r.images)} |`);
  out.push('');

  out.push('## Questions', '');
  for (const q of m.questions) {
    out.push(`### ${q.id} ${q.slug} — ${q.title}`, '', q.text, '');
    if (q.id === 'Q1' && m.q1) {
      out.push(`**The machine-config-daemon's calls, one row per call shape**${tb(m.q1.rows.some((r) => Object.values(r.cells).some((c) => c.outcome?.evidence === 'testbed')))} — outcomes from the \`mcd:\` steps of this run; equivalence data from \`harness/mcd/calls.yaml\`.`, '', m.q1.markdown, '');
      if (m.q1.unknownCalls.length > 0) out.push(`_Outcomes for calls not in calls.yaml: ${m.q1.unknownCalls.join(', ')}_`, '');
    }
    if (q.id === 'Q5' && m.daemonView.length > 0) {
      out.push("**What a bootc-driven daemon would read from these `bootc status --json` outputs** (MCO `pkg/daemon/bootc.go` types, `harness/mcd/bootc-go-types.yaml`):", '');
      for (const d of m.daemonView) out.push(`- ${code(d.runId)}${tb(d.testbed)} **${d.id}**: ${cell(d.message)} — state reads ${d.states.map((s) => `${s.index} (${cell(s.reason)})`).join(', ')}`);
      out.push('');
    }
    if (q.scenarios.length === 0) {
      out.push('_No scenario in this run informs this question._', '');
      continue;
    }
    for (const sc of q.scenarios) {
      out.push(`**Scenario \`${sc.name}\`**${tb(sc.testbed)}: ${sc.runs.map((r) => `${VERDICTS[r.verdict].emoji} ${r.id}`).join(', ')}`, '');
      if (sc.rows.length === 0) {
        out.push('_This scenario records no findings; its verdicts are above._', '');
        continue;
      }
      out.push(`| what was tried | ${sc.columns.map(cell).join(' | ')} |`, `|---|${sc.columns.map(() => '---').join('|')}|`);
      for (const row of sc.rows) {
        const cells = row.cells.map((c) => (c ? `[${cell(c.text)}](#${c.anchor})${c.detail ? `<br>${code(cell(c.detail))}` : ''}` : '_not run_'));
        out.push(`| **${row.id}**${row.label ? ` — ${cell(row.label)}` : ''} | ${cells.join(' | ')} |`);
      }
      out.push('');
      for (const row of sc.rows) out.push(`- **${row.id}**: ${row.answer}`);
      out.push('');
    }
  }

  out.push('## Evidence', '');
  if (m.evidence.length === 0) out.push('_No findings were recorded._', '');
  for (const e of m.evidence) {
    out.push(`<a id="${e.anchor}"></a>`, `#### ${e.findingId} — ${e.runId}${tb(e.testbed)}`, '', `→ **${e.outcome}**`, '');
    for (const f of e.fields) {
      if (f.style === 'pre') out.push(`- ${f.label}:`, '', '  ```', ...f.text.split('\n').map((l) => `  ${l}`), '  ```');
      else out.push(`- ${f.label}: ${f.style === 'code' ? code(f.text) : f.text}`);
    }
    out.push('');
  }

  out.push('## Timelines', '');
  for (const d of m.details) {
    out.push(`### ${VERDICTS[d.verdict].emoji} ${d.runId}${tb(d.testbed)}${d.attempts > 1 ? ` (attempt ${d.attempts})` : ''} — ${d.duration}`, '');
    out.push(`logs: [commands.log](${d.dir}/commands.log) · [steps.jsonl](${d.dir}/steps.jsonl)`, '');
    if (d.steps.length > 0) {
      out.push('| # | step | machine | status | time |', '|---|---|---|---|---|');
      for (const st of d.steps) out.push(`| ${st.number} | ${cell(st.label)}${st.message ? `<br>${cell(st.message)}` : ''} | ${cell(st.machine)} | ${STEP_STATUS[st.status].emoji} ${st.status} | ${st.duration} |`);
      out.push('');
    }
    if (d.timeline.length === 0) {
      out.push('_No state was read._', '');
      continue;
    }
    out.push('| boot | after | booted | staged | rollback | kargs | OS |', '|---|---|---|---|---|---|---|');
    for (const row of d.timeline) out.push(`| ${row.boot} | ${cell(row.step)} | ${cell(row.booted)} | ${cell(row.staged)} | ${cell(row.rollback)} | ${cell(row.kargs)} | ${cell(row.os)} |`);
    out.push('');
  }

  if (m.failures.length > 0) {
    out.push('## Failures', '');
    for (const f of m.failures) out.push(`### ${VERDICTS[f.verdict].emoji} ${f.runId} — ${f.verdict}${f.errorKind ? ` (${f.errorKind})` : ''}`, '', '```', f.message, '```', '');
  }
  return out.join('\n');
}
