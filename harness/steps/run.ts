/** `run: CMD`: a command for the guest's shell, judged by exit code and output checks. */
import { Type, type Static } from '@sinclair/typebox';
import { Pattern, stepSchema } from '../scenario/schema-parts.js';
import { actionFinding, commandResult, excerpt, exec, finish, judgeCommand } from './outcome.js';
import { defineStepKind, WEIGHTS, type StepOutcome } from './types.js';

const OutputMatch = Type.Object(
  {
    contains: Type.Optional(Type.String()),
    matches: Type.Optional(Pattern),
    'not-contains': Type.Optional(Type.String()),
  },
  { additionalProperties: false, description: 'Checks on a command\'s output.' },
);

export const RunStep = stepSchema(
  'run',
  {
    run: Type.String({ minLength: 1, description: 'A command for the guest\'s shell. It runs in the guest only.' }),
    sudo: Type.Optional(Type.Boolean()),
    'exit-code': Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    stdout: Type.Optional(OutputMatch),
    stderr: Type.Optional(OutputMatch),
  },
  'Run a command in the guest.',
);
export type RunStepDef = Static<typeof RunStep>;

function outputProblems(stream: string, text: string, match: Static<typeof OutputMatch> | undefined): string[] {
  if (!match) return [];
  const out: string[] = [];
  if (match.contains !== undefined && !text.includes(match.contains)) out.push(`${stream} does not contain ${JSON.stringify(match.contains)}: ${excerpt(text) ?? '(empty)'}`);
  if (match['not-contains'] !== undefined && text.includes(match['not-contains'])) out.push(`${stream} contains ${JSON.stringify(match['not-contains'])}`);
  if (match.matches !== undefined && !new RegExp(match.matches, 'mu').test(text)) out.push(`${stream} does not match /${match.matches}/: ${excerpt(text) ?? '(empty)'}`);
  return out;
}

export const runKind = defineStepKind({
  kind: 'run',
  schema: RunStep,
  describe: (def) => `run: ${def.run}`,
  defaultTimeoutMs: (t) => t.osOperationMs,
  weight: () => WEIGHTS.other,
  changesState: true,
  expectFailure: true,
  async run(def, ctx): Promise<StepOutcome> {
    const r = await exec(ctx, def.run, def.sudo === true);
    const verdict = judgeCommand(def, r, def['exit-code'] ?? 0);
    const problems: string[] = verdict.message ? [verdict.message] : [];
    if (verdict.ok && !def['expect-failure']) {
      problems.push(...outputProblems('stdout', r.stdout, def.stdout), ...outputProblems('stderr', r.stderr, def.stderr));
    }
    const ok = problems.length === 0;
    return finish(ctx, commandResult(ctx, def.run, r), ok, problems.join('; ') || undefined, actionFinding(r, def.run));
  },
});
