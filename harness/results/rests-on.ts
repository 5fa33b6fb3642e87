/**
 * What a testbed finding rests on: the stand-in behaviours (images/testbed/fidelity.yaml) that the
 * commands up to and including its step exercised — for a state check, also the status readers —
 * each with the real source it follows or `unverified`. A finding about real images rests on the
 * real tools, so only testbed runs get this.
 */
import { behavioursOf, fidelityTable, restsOnEntry, type FidelityBehaviour, type FidelityTable, type RestsOn } from '../../images/testbed/fidelity.js';
import { shSplitJoined } from '../guest/quote.js';
import { defaultStateCommands } from '../state/read.js';
import type { Finding, StepResult } from './model.js';

/** The readers every state comparison goes through: the state reader's own command lines. */
const STATUS_READERS = [defaultStateCommands.rpmOstree, defaultStateCommands.bootc];

/** Every command line a step ran in the guest: its own, or an `mcd:` step's items that ran. */
function commandsOf(step: StepResult): string[] {
  const own = step.command ? [step.command] : [];
  const items = (step.mcd?.items ?? []).filter((i) => i.command && i.status !== 'skipped' && i.status !== 'noted').map((i) => i.command!);
  return [...own, ...items];
}

function behavioursOfLine(line: string, table: FidelityTable): FidelityBehaviour[] {
  const argv = shSplitJoined(line);
  return argv ? behavioursOf(argv, table) : [];
}

export function restsOnFor(finding: Finding, steps: readonly StepResult[], table: FidelityTable = fidelityTable()): RestsOn[] {
  const own = steps.find((s) => s.index === finding.step);
  const earlier = steps.filter((s) => s.index < finding.step && s.status !== 'skipped');
  const found: FidelityBehaviour[] = [];
  // The finding's own commands first: for an action finding they are what it is about.
  for (const line of own ? commandsOf(own) : []) found.push(...behavioursOfLine(line, table));
  if (finding.kind !== 'action') for (const line of STATUS_READERS) found.push(...behavioursOfLine(line, table));
  for (const step of earlier) for (const line of commandsOf(step)) found.push(...behavioursOfLine(line, table));
  const seen = new Set<string>();
  return found.filter((b) => !seen.has(b.id) && seen.add(b.id)).map(restsOnEntry);
}

/** The findings of a testbed run, each with what it rests on. */
export function withRestsOn(findings: readonly Finding[], steps: readonly StepResult[]): Finding[] {
  const table = fidelityTable();
  return findings.map((f) => ({ ...f, restsOn: restsOnFor(f, steps, table) }));
}
