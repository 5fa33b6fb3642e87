/**
 * JUnit XML in the common (Jenkins/Ant) dialect that CI systems publish: one <testsuite> per
 * scenario, one <testcase> per matrix run; failures carry the readable diff, system-out the step log.
 */
import type { RunResult, RunSummary } from './model.js';
import { TESTBED_NOTE } from './testbed.js';
import { STEP_STATUS, VERDICTS, type JunitOutcome } from './verdicts.js';

export function xmlEscape(text: string): string {
  return text
    // Characters XML 1.0 forbids even escaped (console logs contain them).
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** `stepLogs` maps a run id to its step log (commands.log), included as system-out. */
export function renderJunit(summary: RunSummary, stepLogs: Map<string, string> = new Map()): string {
  const byScenario = new Map<string, RunResult[]>();
  for (const run of summary.runs) {
    const list = byScenario.get(run.scenario) ?? [];
    list.push(run);
    byScenario.set(run.scenario, list);
  }
  const count = (runs: RunResult[], outcome: JunitOutcome) => runs.filter((r) => VERDICTS[r.verdict].junit === outcome).length;
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  lines.push(
    `<testsuites name="bootpath ${xmlEscape(summary.runId)}" tests="${summary.runs.length}" failures="${count(summary.runs, 'failure')}" errors="${count(summary.runs, 'error')}" skipped="${count(summary.runs, 'skipped')}" time="${seconds(summary.durationMs)}">`,
  );
  for (const [scenario, runs] of byScenario) {
    const time = runs.reduce((t, r) => t + r.durationMs, 0);
    lines.push(
      `  <testsuite name="${xmlEscape(scenario)}" tests="${runs.length}" failures="${count(runs, 'failure')}" errors="${count(runs, 'error')}" skipped="${count(runs, 'skipped')}" time="${seconds(time)}" timestamp="${xmlEscape(runs[0]!.startedAt.replace(/\.\d+Z$/, ''))}" hostname="${xmlEscape(summary.host.hostname)}">`,
    );
    lines.push('    <properties>');
    lines.push(`      <property name="accel" value="${xmlEscape(summary.host.accel)}"/>`);
    if (runs.some((r) => r.testbed)) lines.push(`      <property name="testbed" value="${xmlEscape(TESTBED_NOTE)}"/>`);
    lines.push('    </properties>');
    for (const run of runs) {
      const name = run.id === scenario ? scenario : run.id.slice(scenario.length);
      lines.push(`    <testcase classname="${xmlEscape(scenario)}" name="${xmlEscape(name)}" file="${xmlEscape(run.file)}" time="${seconds(run.durationMs)}">`);
      const detail = failureDetail(run);
      switch (VERDICTS[run.verdict].junit) {
        case 'failure':
          lines.push(`      <failure message="${xmlEscape(firstLine(run.message))}" type="assertion">${xmlEscape(detail)}</failure>`);
          break;
        case 'error':
          lines.push(`      <error message="${xmlEscape(firstLine(run.message))}" type="${xmlEscape(run.errorKind ?? run.verdict)}">${xmlEscape(detail)}</error>`);
          break;
        case 'skipped':
          lines.push(`      <skipped message="${xmlEscape(firstLine(run.message))}"/>`);
          break;
        case 'pass':
          break;
      }
      const out = [run.verdict === 'flaky' ? `FLAKY: passed on attempt ${run.attempts}\n${run.message ?? ''}` : '', stepLogs.get(run.id) ?? ''].filter(Boolean).join('\n');
      if (out) lines.push(`      <system-out>${xmlEscape(out)}</system-out>`);
      lines.push('    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return lines.join('\n') + '\n';
}

function firstLine(text: string | undefined): string {
  return (text ?? '').split('\n')[0]!.slice(0, 500);
}

function failureDetail(run: RunResult): string {
  const failed = run.steps.find((s) => STEP_STATUS[s.status].broke);
  const parts = [run.message ?? ''];
  if (failed?.stderrExcerpt) parts.push(`stderr:\n${failed.stderrExcerpt}`);
  return parts.join('\n\n');
}
