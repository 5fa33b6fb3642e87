/**
 * Executes one planned step on its machine and says what happened. Each kind has one function;
 * they share the outcome/finding logic so that `record:` and `expect-failure:` mean the same thing
 * on every step.
 */
import path from 'node:path';
import type { ExecResult } from '../guest/session.js';
import type { HostState } from '../state/types.js';
import type { Finding, StateSummary, StepResult } from '../results/model.js';
import type { PlannedStep, RunPlan } from '../scenario/plan.js';
import type { BootcStepDef, CopyStepDef, ExpectStepDef, RecordStepDef, RpmOstreeStepDef, RunStepDef, UpdateStepDef, WaitStepDef } from '../scenario/schema.js';
import { parseDurationMs } from '../../core/units.js';
import { shJoin } from '../guest/quote.js';
import { bootcCommand, rpmOstreeCommand, updateCommand, type GuestCommand } from './guest-commands.js';
import { describeFailures, evaluateExpect } from './expect.js';
import type { GuestMachine } from '../guest/machine.js';
import { summarizeState, observe } from './state-summary.js';
import { stepTimeoutMs, type Timeouts } from './timeouts.js';

export interface StepEnv {
  plan: RunPlan;
  runId: string;
  machines: Map<string, GuestMachine>;
  timeouts: Timeouts;
  signal: AbortSignal;
  /** The step log (commands, output as it arrives). */
  log: (line: string) => void;
  /** Read the state of a machine, save it as state-<n>.json, remember it as the latest. */
  snapshot: (machine: string, reason: string) => Promise<{ state: HostState; index: number }>;
  /** The state as of now: the last read if nothing ran on the machine since, else a new read. */
  currentState: (machine: string, reason: string) => Promise<{ state: HostState; index: number }>;
  /** The latest state read per machine (the "before" of the next change). */
  lastState: Map<string, HostState>;
  /** Where `copy: {direction: from-guest}` writes (the run's results folder). */
  runDir: string;
  testbed: boolean;
  /** Adds guest time (boots, commands) for the harness-overhead figure. */
  addGuestTime: (ms: number) => void;
}

export interface StepOutcome {
  result: StepResult;
  finding?: Finding;
}

const EXCERPT_CHARS = 2000;

export async function executeStep(step: PlannedStep, env: StepEnv): Promise<StepOutcome> {
  const started = Date.now();
  const base: StepResult = {
    index: step.index,
    label: step.label,
    kind: step.kind,
    machine: step.machine,
    status: 'passed',
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
  };
  const machine = env.machines.get(step.machine);
  if (!machine) throw new Error(`internal: no machine '${step.machine}'`);
  const timeoutMs = stepTimeoutMs(step, env.timeouts);
  const signal = AbortSignal.any([env.signal, AbortSignal.timeout(timeoutMs + env.timeouts.commandMs)]);
  const ctx: KindContext = { step, env, machine, timeoutMs, signal, base };

  let outcome: StepOutcome;
  switch (step.kind) {
    case 'run':
      outcome = await runStep(ctx, step.def as RunStepDef);
      break;
    case 'rpm-ostree':
      outcome = await commandStep(ctx, rpmOstreeCommand(step.def as RpmOstreeStepDef));
      break;
    case 'bootc':
      outcome = await commandStep(ctx, bootcCommand(step.def as BootcStepDef));
      break;
    case 'update':
      outcome = await commandStep(ctx, updateCommand(step.def as UpdateStepDef));
      break;
    case 'reboot':
      outcome = await rebootStep(ctx);
      break;
    case 'expect':
      outcome = await expectStep(ctx, step.def as ExpectStepDef);
      break;
    case 'record':
      outcome = await recordStep(ctx, step.def as RecordStepDef);
      break;
    case 'wait':
      outcome = await waitStep(ctx, step.def as WaitStepDef);
      break;
    case 'copy':
      outcome = await copyStep(ctx, step.def as CopyStepDef);
      break;
  }
  outcome.result.durationMs = Date.now() - started;
  return outcome;
}

interface KindContext {
  step: PlannedStep;
  env: StepEnv;
  machine: GuestMachine;
  timeoutMs: number;
  signal: AbortSignal;
  base: StepResult;
}

function excerpt(text: string): string | undefined {
  const t = text.trim();
  if (!t) return undefined;
  return t.length > EXCERPT_CHARS ? `…${t.slice(-EXCERPT_CHARS)}` : t;
}

/** Run a guest command, streaming its output into the step log. */
async function exec(ctx: KindContext, argv: readonly string[] | string, sudo: boolean): Promise<ExecResult> {
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
 * The shared judgement of a command's result: success is exit 0, unless the step expects failure
 * (optionally with a stderr pattern / exit code). A timed-out command always fails.
 */
function judgeCommand(def: { 'expect-failure'?: boolean | { stderr?: string; 'exit-code'?: number } }, r: ExecResult, wantExit = 0): { ok: boolean; message?: string } {
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
function finish(ctx: KindContext, result: StepResult, ok: boolean, message: string | undefined, finding?: Omit<Finding, 'id' | 'runId' | 'scenario' | 'cell' | 'questions' | 'step' | 'label' | 'testbed'>): StepOutcome {
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

async function runStep(ctx: KindContext, def: RunStepDef): Promise<StepOutcome> {
  const r = await exec(ctx, def.run, def.sudo === true);
  const verdict = judgeCommand(def, r, def['exit-code'] ?? 0);
  const problems: string[] = verdict.message ? [verdict.message] : [];
  if (verdict.ok && !def['expect-failure']) {
    problems.push(...outputProblems('stdout', r.stdout, def.stdout), ...outputProblems('stderr', r.stderr, def.stderr));
  }
  const result = commandResult(ctx, def.run, r);
  const ok = problems.length === 0;
  return finish(ctx, result, ok, problems.join('; ') || undefined, actionFinding(ok, r, def.run));
}

function outputProblems(stream: string, text: string, match: RunStepDef['stdout']): string[] {
  if (!match) return [];
  const out: string[] = [];
  if (match.contains !== undefined && !text.includes(match.contains)) out.push(`${stream} does not contain ${JSON.stringify(match.contains)}: ${excerpt(text) ?? '(empty)'}`);
  if (match['not-contains'] !== undefined && text.includes(match['not-contains'])) out.push(`${stream} contains ${JSON.stringify(match['not-contains'])}`);
  if (match.matches !== undefined && !new RegExp(match.matches, 'mu').test(text)) out.push(`${stream} does not match /${match.matches}/: ${excerpt(text) ?? '(empty)'}`);
  return out;
}

function commandResult(ctx: KindContext, command: string, r: ExecResult): StepResult {
  return {
    ...ctx.base,
    command,
    exitCode: r.exitCode,
    stdoutExcerpt: excerpt(r.stdout),
    stderrExcerpt: excerpt(r.stderr),
    expectedFailure: Boolean('expect-failure' in ctx.step.def && ctx.step.def['expect-failure']),
  };
}

function actionFinding(ok: boolean, r: ExecResult, command: string): Omit<Finding, 'id' | 'runId' | 'scenario' | 'cell' | 'questions' | 'step' | 'label' | 'testbed'> {
  return {
    kind: 'action',
    outcome: r.timedOut ? 'timed out' : r.exitCode === 0 ? 'succeeded (exit 0)' : `refused (exit ${r.exitCode ?? r.signal})`,
    ok: r.exitCode === 0,
    command,
    exitCode: r.exitCode,
    stderrExcerpt: excerpt(r.stderr)?.slice(0, 500),
  };
}

/** rpm-ostree, bootc and update steps: run the tool; snapshot the state when it may have changed. */
async function commandStep(ctx: KindContext, cmd: GuestCommand): Promise<StepOutcome> {
  const before = ctx.env.lastState.get(ctx.step.machine) ?? null;
  const display = shJoin(cmd.argv);
  const ran: { result: ExecResult | null } = { result: null };
  let rebootNote: string | undefined;
  if (cmd.reboots) {
    // The command reboots the guest itself: the reboot detection treats it as the trigger.
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
  const verdict = judgeCommand(ctx.step.def as RunStepDef, result);
  // Every tool step is followed by a state read: mutating ones changed it, `status` ones are
  // there to record it.
  const snap = await ctx.env.snapshot(ctx.step.machine, `after ${ctx.step.label}`);
  const after: HostState = snap.state;
  const stepResult = { ...commandResult(ctx, display, result), stateIndex: snap.index };
  const ok = verdict.ok && !rebootNote;
  const message = [verdict.message, rebootNote].filter(Boolean).join('; ') || undefined;
  const finding = { ...actionFinding(result.exitCode === 0, result, display), before: before ? summarizeState(before) : null, after: after ? summarizeState(after) : null };
  return finish(ctx, stepResult, ok, message, finding);
}

async function rebootStep(ctx: KindContext): Promise<StepOutcome> {
  const def = ctx.step.def as { reboot: null | boolean | { via?: 'systemctl' | 'qmp-reset' } };
  const viaReset = typeof def.reboot === 'object' && def.reboot?.via === 'qmp-reset';
  const reboot = await ctx.machine.reboot(
    ctx.signal,
    viaReset ? async () => ctx.machine.machine.reset() : undefined,
  );
  ctx.env.addGuestTime(reboot.phases.totalMs);
  ctx.env.log(`reboot: ${reboot.verdict} — ${reboot.message}`);
  const { session: _session, ...record } = reboot;
  const ok = reboot.verdict === 'ok' || reboot.verdict === 'came-back-degraded';
  let stateIndex: number | undefined;
  if (ok) stateIndex = (await ctx.env.snapshot(ctx.step.machine, 'after reboot')).index;
  const result: StepResult = { ...ctx.base, reboot: record, stateIndex };
  return finish(ctx, result, ok, ok ? (reboot.verdict === 'came-back-degraded' ? reboot.message : undefined) : reboot.message);
}

async function expectStep(ctx: KindContext, def: ExpectStepDef): Promise<StepOutcome> {
  const { state, index } = await ctx.env.currentState(ctx.step.machine, `for ${ctx.step.label}`);
  const checks = await evaluateExpect(def.expect, state, (paths) => probeFiles(ctx, paths));
  const failures = describeFailures(checks);
  const ok = failures.length === 0;
  const message = ok ? undefined : [...failures, ...stateContext(summarizeState(state))].join('\n');
  const result: StepResult = { ...ctx.base, checks, stateIndex: index };
  return finish(ctx, result, ok, message, {
    kind: 'expectation',
    outcome: ok ? 'held' : 'did not hold',
    ok,
    checks,
    after: summarizeState(state),
  });
}

/** The relevant part of the state beside a failed expectation. */
function stateContext(s: StateSummary): string[] {
  const d = (x: StateSummary['booted']) => (x ? `${x.image ?? `ostree ${x.checksum?.slice(0, 12) ?? '?'}`}${x.packages.length ? ` +${x.packages.join(',')}` : ''}${x.incompatible ? ' (incompatible)' : ''}` : 'null');
  const lines = [`state: booted: ${d(s.booted)}; staged: ${d(s.staged)}; rollback: ${d(s.rollback)}; kargs: ${s.kargs.join(' ')}`];
  if (s.disagreements.length) lines.push(`bootc vs rpm-ostree: ${s.disagreements.join('; ')}`);
  return lines;
}

async function recordStep(ctx: KindContext, def: RecordStepDef): Promise<StepOutcome> {
  const { state, index } = await ctx.env.currentState(ctx.step.machine, `for ${ctx.step.label}`);
  const observed = observe(state, def.observe);
  const result: StepResult = { ...ctx.base, stateIndex: index };
  return finish(ctx, result, true, undefined, {
    kind: 'observation',
    outcome: 'observed',
    ok: null,
    observed,
    note: def.note,
    after: summarizeState(state),
  });
}

async function waitStep(ctx: KindContext, def: WaitStepDef): Promise<StepOutcome> {
  const w = def.wait;
  if (typeof w === 'string' || typeof w === 'number') {
    const ms = parseDurationMs(w);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => (clearTimeout(t), reject(ctx.signal.reason as Error)), { once: true });
    });
    return finish(ctx, { ...ctx.base }, true, undefined);
  }
  if (w.console) {
    const m = await ctx.machine.machine.waitForConsole(new RegExp(w.console, 'u'), { timeoutMs: ctx.timeoutMs, signal: ctx.signal });
    ctx.env.log(`console matched: ${m[0]}`);
    return finish(ctx, { ...ctx.base }, true, undefined);
  }
  // Poll a guest command until it exits with the wanted code.
  const want = w['exit-code'] ?? 0;
  const interval = w.interval !== undefined ? parseDurationMs(w.interval) : 2000;
  const deadline = Date.now() + ctx.timeoutMs;
  let last: ExecResult | null = null;
  while (Date.now() < deadline) {
    last = await exec(ctx, w.command!, false);
    if (last.exitCode === want) return finish(ctx, commandResult(ctx, w.command!, last), true, undefined);
    await new Promise((r) => setTimeout(r, interval));
  }
  return finish(ctx, last ? commandResult(ctx, w.command!, last) : { ...ctx.base }, false, `'${w.command}' did not exit ${want} within ${Math.round(ctx.timeoutMs / 1000)} s (last exit ${last?.exitCode ?? '?'})`);
}

async function copyStep(ctx: KindContext, def: CopyStepDef): Promise<StepOutcome> {
  const { src, dest, direction = 'to-guest', mode } = def.copy;
  const session = await ctx.machine.session(ctx.signal);
  if (direction === 'to-guest') {
    const local = path.resolve(ctx.env.plan.baseDir, src);
    ctx.env.log(`copy ${local} → guest:${dest}`);
    await session.upload(local, dest);
    if (mode) await exec(ctx, ['chmod', mode, dest], false);
  } else {
    const local = path.resolve(ctx.env.runDir, 'files', dest);
    if (!local.startsWith(path.resolve(ctx.env.runDir))) throw new Error(`copy dest ${dest} leaves the run's results folder`);
    ctx.env.log(`copy guest:${src} → ${local}`);
    const { promises: fs } = await import('node:fs');
    await fs.mkdir(path.dirname(local), { recursive: true });
    await session.download(src, local);
  }
  return finish(ctx, { ...ctx.base }, true, undefined);
}

/** Which of `paths` exist in the guest; paths travel as arguments, never as shell text. */
async function probeFiles(ctx: KindContext, paths: string[]): Promise<Record<string, boolean>> {
  if (paths.length === 0) return {};
  const script = 'for p do if [ -e "$p" ]; then echo 1; else echo 0; fi; done';
  const r = await exec(ctx, ['sh', '-c', script, 'sh', ...paths], false);
  const answers = r.stdout.trim().split('\n');
  return Object.fromEntries(paths.map((p, i) => [p, answers[i] === '1']));
}

