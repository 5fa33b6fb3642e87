/** `wait: DURATION` / `{console: RE}` / `{command, exit-code, interval}`. */
import { Type, type Static } from '@sinclair/typebox';
import type { ExecResult } from '../guest/session.js';
import { Duration, Pattern, stepSchema } from '../scenario/schema-parts.js';
import { parseDurationMs } from '../../core/units.js';
import { commandResult, exec, finish } from './outcome.js';
import { defineStepKind, WEIGHTS, type StepProblem, type StepOutcome } from './types.js';

export const WaitStep = stepSchema(
  'wait',
  {
    wait: Type.Union([
      Duration,
      Type.Object(
        {
          console: Type.Optional(Pattern),
          command: Type.Optional(Type.String({ minLength: 1 })),
          'exit-code': Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
          interval: Type.Optional(Duration),
        },
        { additionalProperties: false, minProperties: 1 },
      ),
    ]),
  },
  'Wait a duration, for a console pattern, or until a guest command succeeds.',
);
export type WaitStepDef = Static<typeof WaitStep>;

const DEFAULT_INTERVAL_MS = 2000;

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = () => (clearTimeout(t), reject(signal.reason as Error));
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function check(def: WaitStepDef): StepProblem[] {
  const w = def.wait;
  if (typeof w !== 'object') return [];
  if (w.console === undefined && w.command === undefined) return [{ path: ['wait'], message: "a wait needs 'console' (a pattern) or 'command' (a guest command)" }];
  if (w.console !== undefined && w.command !== undefined) return [{ path: ['wait', 'command'], at: 'key', message: "a wait is for 'console' or for 'command', not both" }];
  return [];
}

export const waitKind = defineStepKind({
  kind: 'wait',
  schema: WaitStep,
  check,
  describe: (def) => (typeof def.wait === 'object' ? `wait for ${Object.keys(def.wait).join(', ')}` : `wait ${def.wait}`),
  // A plain duration is its own budget: the step must not time out before the wait is over.
  defaultTimeoutMs: (t, def) => (typeof def.wait === 'object' ? t.commandMs : parseDurationMs(def.wait) + t.commandMs),
  weight: () => WEIGHTS.other,
  changesState: true,
  expectFailure: false,
  async run(def, ctx): Promise<StepOutcome> {
    const w = def.wait;
    if (typeof w !== 'object') {
      await sleep(parseDurationMs(w), ctx.signal);
      return finish(ctx, { ...ctx.base }, true, undefined);
    }
    if (w.console !== undefined) {
      const m = await ctx.machine.machine.waitForConsole(new RegExp(w.console, 'u'), { timeoutMs: ctx.timeoutMs, signal: ctx.signal });
      ctx.env.log(`console matched: ${m[0]}`);
      return finish(ctx, { ...ctx.base }, true, undefined);
    }
    // Poll a guest command until it exits with the wanted code.
    const command = w.command ?? '';
    const want = w['exit-code'] ?? 0;
    const interval = w.interval !== undefined ? parseDurationMs(w.interval) : DEFAULT_INTERVAL_MS;
    const deadline = Date.now() + ctx.timeoutMs;
    let last: ExecResult | null = null;
    while (Date.now() < deadline) {
      last = await exec(ctx, command, false);
      if (last.exitCode === want) return finish(ctx, commandResult(ctx, command, last), true, undefined);
      await sleep(Math.min(interval, Math.max(0, deadline - Date.now())), ctx.signal);
    }
    return finish(ctx, last ? commandResult(ctx, command, last) : { ...ctx.base }, false, `'${command}' did not exit ${want} within ${Math.round(ctx.timeoutMs / 1000)} s (last exit ${last?.exitCode ?? '?'})`);
  },
});
