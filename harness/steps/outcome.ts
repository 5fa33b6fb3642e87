/**
 * What the step kinds share: running a guest command into the step log, judging its exit
 * (`expect-failure:`), and turning an outcome into a pass/fail or a finding (`record:`), so these
 * keys mean the same thing on every kind.
 */
import type { ExecResult } from '../guest/session.js';
import { shJoin } from '../guest/quote.js';
import type { Finding, StepResult } from '../results/model.js';
import type { HostState } from '../state/types.js';
import { summarizeState } from '../run/state-summary.js';
import type { CommonStepFields, StepContext, StepOutcome } from './types.js';

const EXCERPT_CHARS = 2000;

export type FindingBody = Omit<Finding, 'id' | 'runId' | 'scenario' | 'cell' | 'questions' | 'step' | 'label' | 'testbed'>;

/** A guest tool invocation, as argv: quoted for the guest's shell by execArgv, never by a host shell. */
export interface GuestCommand {
  argv: string[];
  /** The command reboots the guest by itself (`--reboot`, `--apply`): treat it as a reboot trigger. */
  reboots: boolean;
}

export function excerpt(text: string): string | undefined {
  const t = text.trim();
  if (!t) return undefined;
  return t.length > EXCERPT_CHARS ? `…${t.slice(-EXCERPT_CHARS)}` : t;
}

/** Run a guest command (argv, or shell text for `run:`), streaming its output into the step log. */
export async function exec(ctx: StepContext, argv: readonly string[] | string, sudo: boolean): Promise<ExecResult> {
  const display = typeof argv === 'string' ? argv : shJoin(argv);
  ctx.env.log(`$ ${sudo ? 'sudo ' : ''}${display}`);
  const opts = {
    timeoutMs: ctx.timeoutMs,
    sudo,
    signal: ctx.signal,
    onStdout: (chunk: string) => ctx.env.log(prefixLines('  | ', chunk)),
    onStderr: (chunk: string) => ctx.env.log(prefixLines('  ! ', chunk)),
  };
  const result = typeof argv === 'string' ? await ctx.machine.execShell(argv, opts) : await ctx.machine.exec(argv, opts);
  ctx.env.addGuestTime(result.durationMs);
  ctx.env.log(`  → exit ${result.exitCode ?? result.signal ?? '?'} in ${result.durationMs} ms${result.timedOut ? ' (timed out)' : ''}`);
  return result;
}

function prefixLines(prefix: string, chunk: string): string {
  return chunk.replace(/\n$/, '').split('\n').map((l) => prefix + l).join('\n');
}

/**
 * The shared judgement of a command's result: success is exit `wantExit`, unless the step expects
 * failure (optionally with a stderr pattern / exit code). A timed-out command always fails.
 */
export function judgeCommand(def: CommonStepFields, r: ExecResult, wantExit = 0): { ok: boolean; message?: string } {
  if (r.timedOut) return { ok: false, message: `timed out after ${r.durationMs} ms` };
  const ef = def['expect-failure'];
  if (ef) {
    if (r.exitCode === 0) return { ok: false, message: 'expected the command to fail, but it succeeded (exit 0)' };
    if (typeof ef === 'object') {
      if (ef['exit-code'] !== undefined && r.exitCode !== ef['exit-code']) return { ok: false, message: `expected exit code ${ef['exit-code']}, got ${r.exitCode}` };
      if (ef.stderr !== undefined && !new RegExp(ef.stderr, 'u').test(r.stderr)) {
        return { ok: false, message: `failed as expected, but stderr does not match /${ef.stderr}/: ${excerpt(r.stderr) ?? '(empty)'}` };
      }
    }
    return { ok: true };
  }
  if (r.exitCode !== wantExit) return { ok: false, message: `exit code ${r.exitCode ?? r.signal}, expected ${wantExit}${r.stderr.trim() ? `; stderr: ${excerpt(r.stderr)}` : ''}` };
  return { ok: true };
}

/** An outcome becomes a finding (status 'recorded') when the step carries `record:`. */
export function finish(ctx: StepContext, result: StepResult, ok: boolean, message: string | undefined, finding?: FindingBody): StepOutcome {
  const id = ctx.step.def.record;
  if (id) {
    result.status = 'recorded';
    result.findingId = id;
    if (message) result.message = message;
    const f: Finding = {
      id,
      runId: ctx.env.plan.id,
      scenario: ctx.env.plan.scenario,
      cell: ctx.env.plan.cell,
      questions: ctx.env.plan.questions,
      step: ctx.step.index,
      label: ctx.step.label,
      testbed: ctx.env.testbed,
      ...(finding ?? { kind: 'action', outcome: ok ? 'succeeded' : 'failed', ok }),
    };
    return { result, finding: f };
  }
  result.status = ok ? 'passed' : 'failed';
  if (message) result.message = message;
  return { result };
}

export function commandResult(ctx: StepContext, command: string, r: ExecResult): StepResult {
  return {
    ...ctx.base,
    command,
    exitCode: r.exitCode,
    stdoutExcerpt: excerpt(r.stdout),
    stderrExcerpt: excerpt(r.stderr),
    expectedFailure: Boolean(ctx.step.def['expect-failure']),
  };
}

export function actionFinding(r: ExecResult, command: string): FindingBody {
  return {
    kind: 'action',
    outcome: r.timedOut ? 'timed out' : r.exitCode === 0 ? 'succeeded (exit 0)' : `refused (exit ${r.exitCode ?? r.signal})`,
    ok: r.exitCode === 0,
    command,
    exitCode: r.exitCode,
    stderrExcerpt: excerpt(r.stderr)?.slice(0, 500),
  };
}

/**
 * rpm-ostree, bootc and update steps: run the tool (as the reboot trigger when it reboots the
 * guest itself), then read the state: mutating calls changed it, `status` calls are there to
 * record it.
 */
export async function toolStep(ctx: StepContext, cmd: GuestCommand): Promise<StepOutcome> {
  const before: HostState | null = ctx.env.lastState.get(ctx.step.machine) ?? null;
  const display = shJoin(cmd.argv);
  const ran: { result: ExecResult | null } = { result: null };
  let rebootNote: string | undefined;
  if (cmd.reboots) {
    ctx.env.log(`$ sudo ${display}  (reboots the guest)`);
    const reboot = await ctx.machine.reboot(ctx.signal, async (session) => {
      ran.result = await session.execArgv(cmd.argv, { timeoutMs: ctx.timeoutMs, sudo: true, signal: ctx.signal });
      return ran.result;
    });
    ctx.env.addGuestTime(reboot.phases.totalMs);
    ctx.env.log(`  reboot: ${reboot.verdict} — ${reboot.message}`);
    if (reboot.verdict !== 'ok' && reboot.verdict !== 'came-back-degraded') rebootNote = reboot.message;
  } else {
    ran.result = await exec(ctx, cmd.argv, true);
  }
  // A reboot trigger whose connection dropped before the command reported back has no exit code:
  // the reboot itself is the evidence that it ran.
  const result: ExecResult = ran.result ?? { command: display, exitCode: cmd.reboots ? 0 : null, signal: null, stdout: '', stderr: '', durationMs: 0, timedOut: false };
  const verdict = judgeCommand(ctx.step.def, result);
  const snap = await ctx.env.snapshot(ctx.step.machine, `after ${ctx.step.label}`);
  const stepResult = { ...commandResult(ctx, display, result), stateIndex: snap.index };
  const ok = verdict.ok && !rebootNote;
  const message = [verdict.message, rebootNote].filter(Boolean).join('; ') || undefined;
  const finding = { ...actionFinding(result, display), before: before ? summarizeState(before) : null, after: summarizeState(snap.state) };
  return finish(ctx, stepResult, ok, message, finding);
}

/** Which of `paths` exist in the guest; paths travel as arguments, never as shell text. */
export async function probeFiles(ctx: StepContext, paths: string[]): Promise<Record<string, boolean>> {
  if (paths.length === 0) return {};
  const script = 'for p do if [ -e "$p" ]; then echo 1; else echo 0; fi; done';
  const r = await exec(ctx, ['sh', '-c', script, 'sh', ...paths], false);
  const answers = r.stdout.trim().split('\n');
  return Object.fromEntries(paths.map((p, i) => [p, answers[i] === '1']));
}
