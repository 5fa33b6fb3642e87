/**
 * The Q1 table's cells from what runs recorded: every command an `mcd:` step ran carries its
 * calls.yaml id and the step's phase, so each (call, phase) cell is the outcome of that call in
 * every run that reached it. A call that failed anywhere is "failed" (the detail says where and
 * how often it went otherwise); one that only ever could not run here is "not possible".
 */
import { shJoin } from '../guest/quote.js';
import type { RunResult } from '../results/model.js';
import { matchesShape, renderShape, type CallEntry, type CallsFile, type ShapeToken } from './calls.js';
import type { CallOutcome, CallOutcomes, Phase } from './q1-table.js';

interface Tally {
  ok: number;
  failed: { run: string; message: string }[];
  notPossible: string[];
  /** Command lines that are not the call's own shape (the bootc driver's `bootc switch …`). */
  otherCommands: Set<string>;
  testbed: boolean;
}

export function q1Outcomes(calls: CallsFile, runs: readonly RunResult[]): CallOutcomes {
  const entries = new Map(calls.calls.map((c) => [c.id, c]));
  const tallies = new Map<string, Map<Phase, Tally>>();
  for (const run of runs) {
    for (const step of run.steps) {
      const mcd = step.mcd;
      if (!mcd) continue;
      for (const item of mcd.items) {
        // A call the daemon would have made next but which an earlier "not possible here" kept from running is not possible here too.
        const blocked = item.status === 'skipped' && item.blockedHere === true;
        if (item.call === null || item.kind !== 'command' || item.status === 'noted' || (item.status === 'skipped' && !blocked)) continue;
        const byPhase = tallies.get(item.call) ?? new Map<Phase, Tally>();
        tallies.set(item.call, byPhase);
        const t = byPhase.get(mcd.phase) ?? { ok: 0, failed: [], notPossible: [], otherCommands: new Set<string>(), testbed: false };
        byPhase.set(mcd.phase, t);
        t.testbed ||= run.testbed;
        const entry = entries.get(item.call);
        if (item.command && entry) {
          const other = otherShape(entry, splitDisplayed(item.command));
          if (other) t.otherCommands.add(other);
        }
        if (item.status === 'ok' || item.status === 'ignored') t.ok++;
        else if (item.status === 'not-possible' || blocked) t.notPossible.push(item.message);
        else t.failed.push({ run: run.id, message: item.message });
      }
    }
  }
  const out: CallOutcomes = {};
  for (const [call, byPhase] of tallies) {
    out[call] = {};
    for (const [phase, t] of byPhase) out[call]![phase] = outcomeOf(t);
  }
  return out;
}

function outcomeOf(t: Tally): CallOutcome {
  const evidence = t.testbed ? 'testbed' : 'real';
  const command = t.otherCommands.size > 0 ? [...t.otherCommands].join('; ') : undefined;
  const base = { evidence, ...(command ? { command } : {}) } as const;
  if (t.failed.length > 0) {
    const first = t.failed[0]!;
    const others = [t.ok > 0 ? `ok ${t.ok}×` : '', t.notPossible.length > 0 ? `not possible ${t.notPossible.length}×` : ''].filter(Boolean).join(', ');
    return { ...base, status: 'failed', detail: `${t.failed.length}× failed: ${first.message}${others ? `; also ${others}` : ''}` };
  }
  if (t.ok > 0) return { ...base, status: 'ok', ...(t.notPossible.length > 0 ? { detail: `not possible ${t.notPossible.length}×: ${t.notPossible[0]}` } : {}) };
  return { ...base, status: 'not-possible', detail: t.notPossible[0] ?? '' };
}

/**
 * Records keep the command as displayed (shJoin); the shape check needs argv back. Only the plain
 * words and single-quoted words shJoin emits occur here.
 */
function splitDisplayed(command: string): string[] {
  const out: string[] = [];
  const re = /'((?:[^']|'\\'')*)'|(\S+)/gu;
  for (const m of command.matchAll(re)) out.push(m[1] !== undefined ? m[1].replaceAll("'\\''", "'") : m[2]!);
  return out;
}

/**
 * What ran instead of the call's own shape, for the cell: the bootc shape from calls.yaml when the
 * command has it (the bootc driver), else the command line itself; null when it is the call's shape.
 */
function otherShape(entry: CallEntry, argv: string[]): string | null {
  if (matchesShape(argv, entry.argv)) return null;
  const b = entry.bootc;
  const bootcShapes: ShapeToken[][] = b.equivalent === 'none' ? [] : [b['daemon-command'], b.command].filter((s): s is ShapeToken[] => s !== undefined);
  const shape = bootcShapes.find((s) => matchesShape(argv, s));
  return shape ? renderShape(shape) : shJoin(argv);
}
