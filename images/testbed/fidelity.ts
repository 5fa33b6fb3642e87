/**
 * The testbed's fidelity table (fidelity.yaml) as data for results: which stand-in behaviours a
 * guest command line exercises, and the real source each one follows (or why it is unverified).
 * A testbed finding names them (`restsOn`), and the report's banner names the modelled versions.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse } from 'yaml';
import { repoRoot } from '../../core/paths.js';

const SourceSchema = Type.Object({ repo: Type.String(), tag: Type.String(), path: Type.String(), function: Type.String() }, { additionalProperties: true });
const BehaviourSchema = Type.Object(
  {
    id: Type.String(),
    tool: Type.Union([Type.Literal('rpm-ostree'), Type.Literal('bootc')]),
    verb: Type.String(),
    options: Type.Optional(Type.Array(Type.String())),
    behaviour: Type.String(),
    source: Type.Optional(SourceSchema),
    unverified: Type.Optional(Type.String()),
    assumption: Type.Optional(Type.String()),
    refused: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);
const TableSchema = Type.Object({
  versions: Type.Record(Type.String(), Type.Object({ repo: Type.String(), tag: Type.String(), commit: Type.String() })),
  behaviours: Type.Array(BehaviourSchema),
});
export type FidelityBehaviour = Static<typeof BehaviourSchema>;
export type FidelityTable = Static<typeof TableSchema>;

/** What a finding records about one behaviour it rests on. */
export interface RestsOn {
  id: string;
  /** "bootc-dev/bootc v1.16.9 crates/lib/src/deploy.rs origin_from_imageref"; null when unverified. */
  source: string | null;
  unverified?: string;
}

export const FIDELITY_FILE = path.join(repoRoot, 'images', 'testbed', 'fidelity.yaml');

let cached: FidelityTable | null = null;

export function fidelityTable(): FidelityTable {
  if (cached) return cached;
  const raw: unknown = parse(readFileSync(FIDELITY_FILE, 'utf8'));
  if (!Value.Check(TableSchema, raw)) {
    const first = [...Value.Errors(TableSchema, raw)][0];
    throw new Error(`${FIDELITY_FILE}: ${first ? `${first.path || '/'}: ${first.message}` : 'invalid'}`);
  }
  cached = raw;
  return cached;
}

/** The stand-in tool, its verb and the options a guest command line uses; null for other commands. */
export function parseToolCommand(argv: readonly string[]): { tool: 'rpm-ostree' | 'bootc'; verb: string; options: string[] } | null {
  const tool = argv[0];
  if (tool !== 'rpm-ostree' && tool !== 'bootc') return null;
  const options: string[] = [];
  let verb: string | null = null;
  for (const a of argv.slice(1)) {
    if (a === '--') break;
    if (a.startsWith('-')) options.push(a.split('=')[0]!);
    else verb ??= a;
  }
  return { tool, verb: verb ?? (options[0] ?? ''), options };
}

/**
 * The behaviours one command exercises: the verb's first entry (what the verb does), every entry
 * of that verb that lists no options (rules that always apply: kargs merge, layering dropped…),
 * and the entries of the options it passes — refused ones included, since they explain a refusal.
 */
export function behavioursOf(argv: readonly string[], table: FidelityTable = fidelityTable()): FidelityBehaviour[] {
  const cmd = parseToolCommand(argv);
  if (!cmd) return [];
  const ofVerb = table.behaviours.filter((b) => b.tool === cmd.tool && b.verb === cmd.verb);
  const main = ofVerb.find((b) => !b.refused);
  return ofVerb.filter((b) => b === main || (!b.refused && !b.options) || (b.options ?? []).some((o) => cmd.options.includes(o)));
}

export function restsOnEntry(b: FidelityBehaviour): RestsOn {
  if (b.source) return { id: b.id, source: `${b.source.repo} ${b.source.tag} ${b.source.path} ${b.source.function}` };
  return { id: b.id, source: null, unverified: b.unverified ?? 'no source recorded' };
}

/** "bootc 1.16.9, rpm-ostree 2026.2 (stand-ins); libostree 2022.7, Ignition 2.14.0 (real, in the guest)". */
export function modelledVersions(table: FidelityTable = fidelityTable()): string {
  const v = (key: string) => table.versions[key]?.tag.replace(/^v/, '') ?? '?';
  return `stand-ins model bootc ${v('bootc')} and rpm-ostree ${v('rpm-ostree')}; libostree ${v('libostree-guest')} and Ignition ${v('ignition-guest')} run for real in the guest`;
}
