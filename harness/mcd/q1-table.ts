/**
 * The report's Q1 section: one row per MCD call shape in calls.yaml — the call, the MCO functions it
 * comes from, its bootc equivalent (or "none" and what to do instead), and what happened to it on an
 * rpm-ostree-managed host, after `bootc switch`, and under the `driver: bootc` daemon. Outcomes come
 * from runs; a call without an outcome says "not run", never a guess.
 */
import { renderShape, type CallEntry, type CallsFile } from './calls.js';

export type OutcomeStatus = 'ok' | 'failed' | 'not-possible' | 'not-run';

export interface CallOutcome {
  status: OutcomeStatus;
  /** The command line that ran, when it is not the call's own shape (the bootc driver's `bootc switch …`). */
  command?: string;
  /** Exit code and the first stderr line of a failure, or why it cannot run here. */
  detail?: string;
  /** A run on the testbed's stand-ins is no evidence about the real tools; the cell says so. */
  evidence: 'testbed' | 'real';
}

/** Per call id: what happened in each of the three phases (absent phases are "not run"). */
export type CallOutcomes = Record<string, Partial<Record<Phase, CallOutcome>>>;

export const phases = ['rpmOstreeHost', 'afterSwitch', 'bootcDriver'] as const;
export type Phase = (typeof phases)[number];

export interface Q1Cell {
  text: string;
  outcome: CallOutcome | null;
}

export interface Q1Row {
  id: string;
  tool: CallEntry['tool'];
  call: string;
  functions: string;
  equivalence: CallEntry['bootc']['equivalent'];
  bootcEquivalent: string;
  cells: Record<Phase, Q1Cell>;
}

export interface Q1Table {
  mcoCommit: string;
  bootcTag: string;
  rows: Q1Row[];
  /** Outcome ids that are no call in calls.yaml (a wiring mistake the report should show). */
  unknownCalls: string[];
  markdown: string;
}

export const Q1_HEADERS = ['Call', 'MCO function', 'bootc equivalent', 'rpm-ostree host', 'after bootc switch', 'driver: bootc'];

function cellText(o: CallOutcome | undefined): string {
  if (!o) return 'not run';
  const words = o.status === 'ok' ? 'ok' : o.status === 'failed' ? 'failed' : o.status === 'not-possible' ? 'not possible here' : 'not run';
  const parts = [o.command ? `\`${o.command}\`: ${words}` : words];
  if (o.detail) parts.push(`(${o.detail})`);
  if (o.evidence === 'testbed' && o.status !== 'not-run') parts.push('[testbed]');
  return parts.join(' ');
}

function equivalentText(c: CallEntry): string {
  const b = c.bootc;
  if (b.equivalent === 'none') return `none: ${b.instead}`;
  const cmd = `\`${renderShape(b.command)}\``;
  return b.equivalent === 'partial' ? `partly ${cmd}${b.instead ? `: ${b.instead}` : ''}` : `${cmd}${b.instead ? ` (${b.instead})` : ''}`;
}

/** Markdown table cells: one line, no unescaped pipes. */
const md = (s: string): string => s.replace(/\s*\n\s*/gu, ' ').replace(/\|/gu, '\\|');

export function buildQ1Table(calls: CallsFile, outcomes: CallOutcomes): Q1Table {
  const known = new Set(calls.calls.map((c) => c.id));
  const rows: Q1Row[] = calls.calls.map((c) => {
    const o = outcomes[c.id] ?? {};
    const cells = Object.fromEntries(phases.map((p) => [p, { text: cellText(o[p]), outcome: o[p] ?? null }])) as Record<Phase, Q1Cell>;
    return {
      id: c.id,
      tool: c.tool,
      call: renderShape(c.argv),
      functions: [...new Set(c.callers.map((k) => `${k.file.split('/').at(-1)} ${k.function}`))].join(', '),
      equivalence: c.bootc.equivalent,
      bootcEquivalent: equivalentText(c),
      cells,
    };
  });
  const lines = [
    `| ${Q1_HEADERS.join(' | ')} |`,
    `|${Q1_HEADERS.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${[`\`${r.call}\``, r.functions, r.equivalence === 'none' ? `**none**: ${r.bootcEquivalent.slice('none: '.length)}` : r.bootcEquivalent, ...phases.map((p) => r.cells[p].text)].map(md).join(' | ')} |`),
  ];
  const source = `MCO \`${calls.mco.commit.slice(0, 8)}\` (${calls.mco.date}), bootc ${calls.bootc.tag}.`;
  return {
    mcoCommit: calls.mco.commit,
    bootcTag: calls.bootc.tag,
    rows,
    unknownCalls: Object.keys(outcomes).filter((id) => !known.has(id)),
    markdown: `${lines.join('\n')}\n\n${source}\n`,
  };
}
