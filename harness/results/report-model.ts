/**
 * The write-up as data: per question, which scenarios inform it and what each matrix cell
 * observed (with the answer in words), the evidence behind every cell, per run its steps and its
 * boot-by-boot timeline, then failures. The Markdown and HTML renderers only format this model,
 * so they cannot disagree about what the report says.
 */
import { formatDuration } from '../../core/units.js';
import { formatValue } from '../run/expect.js';
import type { CallsFile } from '../mcd/calls.js';
import { daemonView, type DaemonViewFindingId, type GoTypes } from '../mcd/daemon-view.js';
import { q1Outcomes } from '../mcd/q1-outcomes.js';
import { buildQ1Table, type Q1Table } from '../mcd/q1-table.js';
import type { Question } from '../scenario/questions.js';
import type { DeploymentView, HostState } from '../state/types.js';
import { runSlug } from './layout.js';
import type { DeploymentSummary, Finding, RunResult, RunSummary, StateSummary } from './model.js';
import type { StatesOf } from './run-log.js';
import { RUN_VERDICTS, STEP_STATUS, VERDICTS, type RunVerdict, type StepStatus, type Tone } from './verdicts.js';

export interface ReportCell {
  text: string;
  tone: Tone;
  anchor: string;
  /** The last line of the command's stderr, when it failed with one. */
  detail?: string;
}

export interface FindingRow {
  id: string;
  /** The step's label; empty when the matrix changed it per cell (the cells say it then). */
  label: string;
  /** One per column; null where the run never reached this finding. */
  cells: (ReportCell | null)[];
  /** The row in words: "held in 1 of 3 cells (upgrade), did not hold in 2 (switch, rollback)". */
  answer: string;
}

export interface ScenarioSection {
  name: string;
  testbed: boolean;
  runs: { id: string; verdict: RunVerdict }[];
  /** Column headings: each run's matrix cell. */
  columns: string[];
  rows: FindingRow[];
}

export interface QuestionSection {
  id: string;
  slug: string;
  title: string;
  text: string;
  scenarios: ScenarioSection[];
}

/** One line of evidence; `pre` is preformatted (stderr), `code` is a command or path. */
export interface EvidenceField {
  label: string;
  text: string;
  style: 'text' | 'code' | 'pre';
}

export interface EvidenceItem {
  anchor: string;
  findingId: string;
  runId: string;
  outcome: string;
  testbed: boolean;
  fields: EvidenceField[];
}

export interface TimelineRow {
  boot: number;
  step: string;
  booted: string;
  staged: string;
  rollback: string;
  kargs: string;
  os: string;
}

export interface StepRow {
  number: number;
  label: string;
  machine: string;
  status: StepStatus;
  tone: Tone;
  duration: string;
  /** Share of the run's step time, 0–1: the width of its bar. */
  share: number;
  /** A reboot step: the boundary between two boots on the picture. */
  reboot: boolean;
  anchor: string;
  message?: string;
}

export interface RunDetail {
  runId: string;
  testbed: boolean;
  verdict: RunVerdict;
  attempts: number;
  duration: string;
  /** The run's folder relative to the report (commands.log, steps.jsonl, console logs). */
  dir: string;
  steps: StepRow[];
  timeline: TimelineRow[];
}

export interface ReportModel {
  runId: string;
  testbed: boolean;
  /** "Started …, took … on host (…)". */
  overview: string;
  totals: { verdict: RunVerdict; count: number }[];
  totalRuns: number;
  interrupted: boolean;
  runs: { id: string; verdict: RunVerdict; tone: Tone; duration: string; images: string; testbed: boolean }[];
  questions: QuestionSection[];
  /** The MCD call table (Q1), when some run replayed the daemon's flows with `mcd:` steps. */
  q1: Q1Table | null;
  /** What a bootc-driven daemon would decode from each `bootc status` the runs read (Q2/Q5). */
  daemonView: DaemonViewRow[];
  evidence: EvidenceItem[];
  details: RunDetail[];
  failures: { runId: string; verdict: RunVerdict; errorKind?: string; message: string }[];
}

/** One kind of daemon-view finding in one run, with the state reads it showed in. */
export interface DaemonViewRow {
  runId: string;
  testbed: boolean;
  id: DaemonViewFindingId;
  message: string;
  /** state-<n>.json indexes and what each was read after. */
  states: { index: number; reason: string }[];
}

/** The MCO data the report reads besides the runs: the call table and the daemon's Go types. */
export interface McoTables {
  calls: CallsFile;
  goTypes: GoTypes;
}

export function buildReportModel(summary: RunSummary, questions: Question[], statesOf: StatesOf, mco: McoTables | null = null): ReportModel {
  const calls = mco?.calls ?? null;
  const s = summary;
  const hasMcd = s.runs.some((r) => r.steps.some((st) => st.mcd));
  return {
    runId: s.runId,
    testbed: s.testbed,
    overview: `Started ${s.startedAt}, took ${formatDuration(s.durationMs)} on ${s.host.hostname} (${s.host.cpus} CPUs, ${s.host.memoryMiB} MiB, accel ${s.host.accel}: ${s.host.accelReason}).`,
    totals: RUN_VERDICTS.filter((v) => s.totals[v] > 0).map((verdict) => ({ verdict, count: s.totals[verdict] })),
    totalRuns: s.totals.runs,
    interrupted: s.interrupted,
    runs: s.runs.map((r) => ({
      id: r.id,
      verdict: r.verdict,
      tone: VERDICTS[r.verdict].tone,
      duration: formatDuration(r.durationMs),
      images: r.machines.map((m) => `${m.image.image}${m.image.version ? ` ${m.image.version}` : ''}`).join(', '),
      testbed: r.testbed,
    })),
    questions: questions.map((q) => questionSection(q, s.runs)),
    q1: calls && hasMcd ? buildQ1Table(calls, q1Outcomes(calls, s.runs)) : null,
    daemonView: mco ? s.runs.flatMap((r) => daemonViewRows(r, statesOf(r), mco.goTypes)) : [],
    evidence: s.runs.flatMap((r) => r.findings.map((f) => evidenceItem(r, f))),
    details: s.runs.filter((r) => r.dir).map((r) => runDetail(r, statesOf(r))),
    failures: s.runs.filter((r) => VERDICTS[r.verdict].explained).map((r) => ({ runId: r.id, verdict: r.verdict, errorKind: r.errorKind, message: r.message ?? '' })),
  };
}

/**
 * MCO pkg/daemon/bootc.go at the pinned commit is what a bootc-driven daemon would decode: every
 * `bootc status --json` a run read goes through it, and what the daemon would get wrong is listed
 * once per run with the reads that showed it.
 */
function daemonViewRows(run: RunResult, states: ReturnType<StatesOf>, goTypes: GoTypes): DaemonViewRow[] {
  const rows = new Map<DaemonViewFindingId, DaemonViewRow & { messages: Set<string> }>();
  for (const snap of states) {
    const raw = snap.state.bootc.status?.raw;
    if (!raw) continue;
    const seen = new Set<DaemonViewFindingId>();
    for (const f of daemonView(raw, goTypes).findings) {
      const row = rows.get(f.id) ?? { runId: run.id, testbed: run.testbed, id: f.id, message: f.message, states: [], messages: new Set<string>() };
      row.messages.add(f.message);
      if (!seen.has(f.id)) row.states.push({ index: snap.index, reason: snap.reason });
      seen.add(f.id);
      rows.set(f.id, row);
    }
  }
  // One row per kind of finding: the first message stands for the others (the same field in another deployment or with another value).
  return [...rows.values()].map(({ messages, ...row }) => ({ ...row, message: messages.size > 1 ? `${row.message} (and ${messages.size - 1} more like it)` : row.message }));
}

function questionSection(question: Question, all: RunResult[]): QuestionSection {
  const runs = all.filter((r) => r.questions.includes(question.id));
  const names = [...new Set(runs.map((r) => r.scenario))];
  return {
    id: question.id,
    slug: question.slug,
    title: question.title,
    text: question.text,
    scenarios: names.map((name) => scenarioSection(name, runs.filter((r) => r.scenario === name))),
  };
}

function scenarioSection(name: string, runs: RunResult[]): ScenarioSection {
  const ids: { id: string; label: string }[] = [];
  for (const r of runs) {
    for (const f of r.findings) {
      const row = ids.find((x) => x.id === f.id);
      if (!row) ids.push({ id: f.id, label: f.label });
      else if (row.label !== f.label) row.label = '';
    }
  }
  const columns = runs.map(cellLabel);
  return {
    name,
    testbed: runs.some((r) => r.testbed),
    runs: runs.map((r) => ({ id: r.id, verdict: r.verdict })),
    columns,
    rows: ids.map(({ id, label }) => {
      const findings = runs.map((r) => r.findings.find((f) => f.id === id) ?? null);
      return {
        id,
        label,
        cells: findings.map((f, i) => (f ? reportCell(runs[i]!, f) : null)),
        answer: answerText(findings, columns),
      };
    }),
  };
}

function reportCell(run: RunResult, f: Finding): ReportCell {
  const mark = f.ok === true ? '✅ ' : f.ok === false ? '❌ ' : '';
  return {
    text: `${mark}${f.outcome}`,
    tone: f.ok === true ? 'ok' : f.ok === false ? 'bad' : 'neutral',
    anchor: anchor(run.id, f.id),
    detail: f.stderrExcerpt ? f.stderrExcerpt.split('\n').slice(-1)[0]!.slice(0, 160) : undefined,
  };
}

/** How each kind of finding says "it held" and "it did not". */
const ANSWER_WORDS: Record<Finding['kind'], { yes: string; no: string; seen: string }> = {
  action: { yes: 'succeeded', no: 'was refused', seen: 'observed' },
  expectation: { yes: 'held', no: 'did not hold', seen: 'observed' },
  observation: { yes: 'held', no: 'did not hold', seen: 'observed' },
};

/** The row in words, generated from its cells so a reader need not decode the table. */
export function answerText(findings: (Finding | null)[], columns: string[]): string {
  const kind = findings.find((f) => f)?.kind ?? 'observation';
  const words = ANSWER_WORDS[kind];
  const groups: { word: string; cells: string[] }[] = [
    { word: words.yes, cells: [] },
    { word: words.no, cells: [] },
    { word: words.seen, cells: [] },
    { word: 'not reached', cells: [] },
  ];
  findings.forEach((f, i) => groups[f === null ? 3 : f.ok === true ? 0 : f.ok === false ? 1 : 2]!.cells.push(columns[i]!));
  const present = groups.filter((g) => g.cells.length > 0);
  return present
    .map((g, i) => {
      const count = i === 0 ? `${g.cells.length} of ${columns.length} cell${columns.length === 1 ? '' : 's'}` : `${g.cells.length}`;
      return `${g.word} in ${count} (${g.cells.join('; ')})`;
    })
    .join(', ');
}

function evidenceItem(run: RunResult, f: Finding): EvidenceItem {
  const fields: EvidenceField[] = [{ label: `step ${f.step + 1}`, text: f.label, style: 'text' }];
  if (f.command) fields.push({ label: 'command', text: `${f.command}  (exit ${f.exitCode ?? '?'})`, style: 'code' });
  if (f.stderrExcerpt) fields.push({ label: 'stderr', text: f.stderrExcerpt, style: 'pre' });
  const obs = observedText(f);
  if (obs) fields.push({ label: 'observed', text: obs, style: 'text' });
  if (f.before !== undefined) fields.push({ label: 'before', text: stateText(f.before), style: 'text' });
  if (f.after !== undefined) fields.push({ label: 'after', text: stateText(f.after), style: 'text' });
  if (f.after?.disagreements.length) fields.push({ label: 'bootc vs rpm-ostree', text: f.after.disagreements.join('; '), style: 'text' });
  if (f.note) fields.push({ label: 'note', text: f.note, style: 'text' });
  if (f.restsOn?.length) {
    const unverified = f.restsOn.filter((r) => r.source === null).length;
    const entries = f.restsOn.map((r) => `${r.id} (${r.source ?? `unverified: ${r.unverified ?? ''}`})`).join('; ');
    fields.push({ label: `rests on stand-in behaviours (${f.restsOn.length}, ${unverified} unverified)`, text: entries, style: 'text' });
  }
  fields.push({ label: 'evidence files', text: `${run.dir}/steps.jsonl, ${run.dir}/commands.log`, style: 'code' });
  return { anchor: anchor(run.id, f.id), findingId: f.id, runId: run.id, outcome: f.outcome, testbed: f.testbed, fields };
}

function runDetail(run: RunResult, states: ReturnType<StatesOf>): RunDetail {
  const total = run.steps.reduce((t, st) => t + st.durationMs, 0);
  return {
    runId: run.id,
    testbed: run.testbed,
    verdict: run.verdict,
    attempts: run.attempts,
    duration: formatDuration(run.durationMs),
    dir: run.dir,
    steps: run.steps.map((st) => ({
      share: total > 0 ? st.durationMs / total : 0,
      reboot: st.reboot !== undefined || st.kind === 'reboot',
      anchor: `s-${runSlug(run.id)}-${st.index + 1}`.replace(/[^A-Za-z0-9_-]/g, '-'),
      number: st.index + 1,
      label: st.label,
      machine: st.machine,
      status: st.status,
      tone: STEP_STATUS[st.status].tone,
      duration: formatDuration(st.durationMs),
      message: STEP_STATUS[st.status].broke ? st.message?.split('\n')[0] : undefined,
    })),
    timeline: timeline(states),
  };
}

/** Only the reads where something changed: the boot-by-boot story, not every read. */
function timeline(states: ReturnType<StatesOf>): TimelineRow[] {
  const rows: TimelineRow[] = [];
  let lastKey = '';
  for (const s of states) {
    const row = timelineRow(s.boot, s.reason, s.state);
    const key = JSON.stringify({ ...row, step: '' });
    if (key !== lastKey) rows.push(row);
    lastKey = key;
  }
  return rows;
}

function timelineRow(boot: number, step: string, st: HostState): TimelineRow {
  return {
    boot,
    step,
    booted: viewText(st.booted),
    staged: viewText(st.staged),
    rollback: viewText(st.rollback),
    kargs: st.kargs.filter((k) => !/^(BOOT_IMAGE|root|rw|console|ostree)=?/.test(k)).join(' '),
    os: st.osRelease.PRETTY_NAME ?? st.osRelease.VERSION ?? '',
  };
}

function viewText(d: DeploymentView | null): string {
  return d ? deploymentText({ image: d.image, version: d.version, packages: d.requestedPackages, incompatible: d.incompatible, checksum: d.checksum }) : '—';
}

function deploymentText(d: Pick<DeploymentSummary, 'image' | 'version' | 'packages' | 'incompatible' | 'checksum'>): string {
  const parts = [d.image ?? `ostree ${d.checksum?.slice(0, 10) ?? '?'}`];
  if (d.version) parts.push(d.version);
  if (d.packages.length) parts.push(`+${d.packages.join(',')}`);
  if (d.incompatible) parts.push('incompatible');
  return parts.join(' ');
}

export function deploymentSummaryText(d: DeploymentSummary | null): string {
  return d ? deploymentText(d) : '—';
}

function stateText(s: StateSummary | null | undefined): string {
  if (!s) return '—';
  return `booted ${deploymentSummaryText(s.booted)}; staged ${deploymentSummaryText(s.staged)}; rollback ${deploymentSummaryText(s.rollback)}`;
}

export function anchor(runId: string, findingId: string): string {
  return `f-${runSlug(runId)}-${findingId}`.replace(/[^A-Za-z0-9_-]/g, '-');
}

function isDeployment(v: unknown): v is DeploymentSummary {
  return typeof v === 'object' && v !== null && 'image' in v && 'packages' in v;
}

function observedText(f: Finding): string {
  if (f.observed) return Object.entries(f.observed).map(([k, v]) => `${k}: ${isDeployment(v) ? deploymentSummaryText(v) : formatValue(v)}`).join('; ');
  if (f.checks) return f.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.check} expected ${formatValue(c.expected)}, was ${formatValue(c.actual)}`).join('; ');
  return '';
}

function cellLabel(r: RunResult): string {
  const parts = Object.entries(r.cell).map(([k, v]) => `${k}=${String(v)}`);
  return parts.length > 0 ? parts.join(', ') : 'run';
}
