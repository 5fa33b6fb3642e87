/**
 * The MCD call-shape data file (harness/mcd/calls.yaml): its schema, its loader, and the argv
 * shape matcher that ties every command harness/mcd/expand.ts emits to one entry of the file.
 *
 * The equivalence data lives in YAML, not here, so that the MCO team can review one versioned file
 * with its sources; this module only gives it types and refuses a file that does not hold together.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { InputError, type LocatedProblem } from '../../core/errors.js';
import { loadChecked } from '../../core/load-checked.js';

const Id = Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', 'x-pattern-description': 'an id of lower-case letters, digits and dashes' });
const Text = Type.String({ minLength: 1 });
const Commit = Type.String({ pattern: '^[0-9a-f]{40}$', 'x-pattern-description': 'a full 40-character commit hash' });

const Repeat = Type.Object({ repeat: Type.Array(Text, { minItems: 1 }) }, { additionalProperties: false });
const ShapeToken = Type.Union([Text, Repeat], { description: 'a literal token, a <placeholder>, or {repeat: [...]}' });

const Source = Type.Object({ path: Text, note: Type.Optional(Text) }, { additionalProperties: false });
const Caller = Type.Object({ file: Text, function: Text }, { additionalProperties: false });

const WithCommand = (kind: 'command' | 'partial') =>
  Type.Object(
    {
      equivalent: Type.Literal(kind),
      command: Type.Array(ShapeToken, { minItems: 1 }),
      /** The form MCO's pkg/daemon/bootc.go runs, where it differs from the recommended one. */
      'daemon-command': Type.Optional(Type.Array(ShapeToken, { minItems: 1 })),
      instead: Type.Optional(Text),
      sources: Type.Array(Source, { minItems: 1 }),
    },
    { additionalProperties: false },
  );
const NoEquivalent = Type.Object(
  {
    equivalent: Type.Literal('none'),
    instead: Text,
    sources: Type.Array(Source, { minItems: 1 }),
  },
  { additionalProperties: false },
);
const BootcEquivalent = Type.Union([WithCommand('command'), WithCommand('partial'), NoEquivalent], { 'x-discriminator': 'equivalent' });

const Call = Type.Object(
  {
    id: Id,
    tool: Type.Union([Type.Literal('rpm-ostree'), Type.Literal('ostree')]),
    argv: Type.Array(ShapeToken, { minItems: 1 }),
    callers: Type.Array(Caller, { minItems: 1 }),
    purpose: Text,
    bootc: BootcEquivalent,
    notes: Type.Optional(Text),
  },
  { additionalProperties: false },
);

const PackageList = Type.Array(Text, { minItems: 1 });

export const CallsFileSchema = Type.Object(
  {
    version: Type.Literal(1),
    mco: Type.Object({ repo: Text, commit: Commit, date: Text }, { additionalProperties: false }),
    bootc: Type.Object({ repo: Text, tag: Text, commit: Commit }, { additionalProperties: false }),
    'supported-extensions': Type.Record(Type.String(), PackageList),
    'legacy-extension-packages': Type.Record(Type.String(), PackageList),
    'kernel-packages': Type.Object(
      { default: PackageList, realtime: PackageList, '64k-pages': PackageList },
      { additionalProperties: false },
    ),
    calls: Type.Array(Call, { minItems: 1 }),
  },
  { additionalProperties: false },
);

export type CallsFile = Static<typeof CallsFileSchema>;
export type CallEntry = CallsFile['calls'][number];
export type ShapeToken = Static<typeof ShapeToken>;
export type BootcEquivalent = Static<typeof BootcEquivalent>;

export const callsFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'calls.yaml');

/** Load and check calls.yaml: the schema, then what a schema cannot say (unique ids). */
export async function loadCalls(file = callsFile, displayName = path.relative(process.cwd(), file) || file): Promise<CallsFile> {
  const { value, source } = await loadChecked(file, displayName, CallsFileSchema);
  const problems: LocatedProblem[] = [];
  const seen = new Set<string>();
  value.calls.forEach((call, i) => {
    if (seen.has(call.id)) problems.push({ ...source.locate(['calls', i, 'id']), message: `duplicate call id '${call.id}'` });
    seen.add(call.id);
  });
  if (problems.length > 0) throw new InputError(`${displayName}: invalid`, problems);
  return value;
}

/** `<name>` anywhere in a token is one argument the daemon fills in; the rest is literal. */
function tokenMatches(shape: string, arg: string): boolean {
  const parts = shape.split(/<[^<>]+>/u);
  if (parts.length === 1) return shape === arg;
  const escaped = parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, 'u').test(arg);
}

/** Does `argv` have the shape `shape`? Repeat groups match zero or more times (backtracking). */
export function matchesShape(argv: readonly string[], shape: readonly ShapeToken[]): boolean {
  const go = (ai: number, si: number): boolean => {
    if (si === shape.length) return ai === argv.length;
    const token = shape[si]!;
    if (typeof token === 'string') return ai < argv.length && tokenMatches(token, argv[ai]!) && go(ai + 1, si + 1);
    const group = token.repeat;
    if (go(ai, si + 1)) return true;
    const fits = group.every((g, k) => ai + k < argv.length && tokenMatches(g, argv[ai + k]!));
    return fits && go(ai + group.length, si);
  };
  return go(0, 0);
}

/** The shape as one line, for reports: `rpm-ostree kargs [--append=<new-karg>]…`. */
export function renderShape(shape: readonly ShapeToken[]): string {
  return shape.map((t) => (typeof t === 'string' ? t : `[${t.repeat.join(' ')}]…`)).join(' ');
}
