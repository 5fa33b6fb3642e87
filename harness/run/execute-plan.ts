/**
 * Runs one RunPlan from start to finish: images → machines → steps → teardown. Whatever happens
 * (assertion failure, dead machine, timeout, Ctrl-C) it returns a RunResult and leaves no machine
 * running unless the keep policy asks for it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InfraError, errorMessage } from '../../core/errors.js';
import { writeJsonAtomic } from '../../core/atomic.js';
import type { ResolvedImage } from '../../images/resolve.js';
import { MachineFailure, type Accel } from '../../vm/machine.js';
import type { RunSecrets } from '../../vm/run-secrets.js';
import type { GeneratedKeyPair } from '../../vm/ssh-keys.js';
import type { Finding, MachineRecord, RunResult, RunVerdict, StateSnapshot, StepResult } from '../results/model.js';
import type { RunPlan } from '../scenario/plan.js';
import type { HostState } from '../state/types.js';
import { runIdentity } from '../results/identity.js';
import { withRestsOn } from '../results/rests-on.js';
import type { EventBus } from './events.js';
import type { GuestMachine, GuestMachineOptions } from '../guest/machine.js';
import type { Machine } from '../../vm/machine.js';
import type { StepGuest } from '../steps/types.js';
import type { BackendName } from '../../vm/backends.js';
import { machineVcpus } from './admission.js';
import { executeStep } from './steps.js';
import { stepChangesState } from '../steps/registry.js';
import type { Timeouts } from './timeouts.js';

export type KeepPolicy = 'never' | 'on-failure' | 'always';

/**
 * What a run needs of each of its machines: the steps' view plus boot bookkeeping, state reads and
 * teardown. GuestMachine implements it; unit tests pass test/support/fake-guest.ts.
 */
export interface PlanGuest extends StepGuest {
  readonly plan: { name: string };
  readonly machine: StepGuest['machine'] & Pick<Machine, 'on' | 'bootCount' | 'failureSignal'>;
  readState(signal: AbortSignal): Promise<HostState>;
  writeKnownHosts(): Promise<void>;
  destroy(keepFiles: boolean): Promise<void>;
}

export interface PlanDeps<G extends PlanGuest = GuestMachine> {
  /** Creates and boots one machine, SSH ready (GuestMachine.start in a real run). */
  startGuest: (opts: GuestMachineOptions) => Promise<G>;
  runId: string;
  dir: string;
  attempt: number;
  accel: Accel;
  /** Runs at once: machines without an explicit `cpus` are sized by it (machineVcpus). */
  parallel: number;
  backend: BackendName;
  timeouts: Timeouts;
  keep: KeepPolicy;
  clientKey: GeneratedKeyPair;
  /** The run's private directory (keys, provisioning files). */
  secrets: RunSecrets;
  resolveImage: (plan: RunPlan, machine: string) => Promise<ResolvedImage>;
  bus: EventBus;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
}

export interface PlanOutcome<G extends PlanGuest = GuestMachine> {
  result: RunResult;
  /** Machines left running by the keep policy; the caller tears them down later. */
  kept: G[];
}

/** Thrown through the scenario's signal when its own timeout expires. */
export class ScenarioTimeout extends Error {
  constructor(ms: number) {
    super(`scenario timed out after ${Math.round(ms / 1000)} s`);
  }
}

export async function executePlan<G extends PlanGuest>(plan: RunPlan, deps: PlanDeps<G>): Promise<PlanOutcome<G>> {
  const started = Date.now();
  await fs.mkdir(deps.dir, { recursive: true });
  await writeJsonAtomic(path.join(deps.dir, 'plan.json'), { ...plan, machines: plan.machines.map((m) => ({ ...m, image: m.image.entry })) });
  const commandLog = await fs.open(path.join(deps.dir, 'commands.log'), 'a');
  const stepsFile = path.join(deps.dir, 'steps.jsonl');
  const log = (line: string) => void commandLog.write(`${new Date().toISOString()} ${line}\n`).catch(() => undefined);

  const timeoutCtl = new AbortController();
  const timer = setTimeout(() => timeoutCtl.abort(new ScenarioTimeout(plan.timeoutMs)), plan.timeoutMs);
  const signal = AbortSignal.any([deps.signal, timeoutCtl.signal]);

  const machines = new Map<string, G>();
  const records: MachineRecord[] = [];
  const steps: StepResult[] = [];
  const findings: Finding[] = [];
  const lastState = new Map<string, HostState>();
  let stateCount = 0;
  let guestTimeMs = 0;
  let verdict: RunVerdict = 'passed';
  let message: string | undefined;
  let errorKind: string | undefined;
  const { testbed } = runIdentity(plan);

  try {
    // Images first (they may download or build), then machines.
    const images = new Map<string, ResolvedImage>();
    for (const m of plan.machines) {
      try {
        images.set(m.name, await deps.resolveImage(plan, m.name));
      } catch (err) {
        throw asInfra(err, 'image');
      }
    }
    for (const planned of plan.machines) {
      const m = { ...planned, cpus: machineVcpus(planned.cpus, deps.accel, deps.parallel) };
      const image = images.get(m.name)!;
      const bootStarted = Date.now();
      let guest: G;
      try {
        guest = await deps.startGuest({
          plan: m,
          image,
          clientKey: deps.clientKey,
          dir: path.join(deps.dir, `machine-${m.name}`),
          secrets: deps.secrets,
          accel: deps.accel,
          backend: deps.backend,
          timeouts: deps.timeouts,
          log,
          signal,
        });
      } catch (err) {
        throw asInfra(err, 'machine-start');
      }
      guestTimeMs += Date.now() - bootStarted;
      machines.set(m.name, guest);
      guest.machine.on((event) => void deps.bus.emit({ type: 'machine:console', plan, machine: m.name, event }));
      records.push({ name: m.name, image: image.provenance, memoryMiB: m.memoryMiB, cpus: m.cpus, boots: 1 });
    }

    // The last state read per machine, while nothing has run on it since: expect and record steps
    // reuse it instead of reading again (a state read costs seconds under TCG).
    const fresh = new Map<string, { state: HostState; index: number }>();
    const snapshot = async (machineName: string, reason: string) => {
      const guest = machines.get(machineName)!;
      const started = Date.now();
      const state = await guest.readState(signal);
      guestTimeMs += Date.now() - started;
      const index = stateCount++;
      const record: StateSnapshot = { index, machine: machineName, reason, boot: guest.machine.bootCount, state };
      await writeJsonAtomic(path.join(deps.dir, `state-${index}.json`), record);
      await deps.bus.emit({ type: 'state', plan, attempt: deps.attempt, snapshot: record });
      lastState.set(machineName, state);
      fresh.set(machineName, { state, index });
      return { state, index };
    };
    const currentState = async (machineName: string, reason: string) => fresh.get(machineName) ?? snapshot(machineName, reason);
    for (const m of plan.machines) await snapshot(m.name, 'first boot');

    for (const step of plan.steps) {
      if (signal.aborted) throw signal.reason;
      if (stepChangesState(step)) fresh.delete(step.machine);
      await deps.bus.emit({ type: 'step:begin', plan, step });
      const { result, finding } = await executeStep(step, {
        plan,
        runId: deps.runId,
        machines,
        timeouts: deps.timeouts,
        signal,
        log,
        snapshot,
        currentState,
        lastState,
        runDir: deps.dir,
        testbed,
        addGuestTime: (ms) => (guestTimeMs += ms),
      });
      steps.push(result);
      if (finding) findings.push(finding);
      await fs.appendFile(stepsFile, JSON.stringify(result) + '\n');
      await deps.bus.emit({ type: 'step:end', plan, step, result });
      if (result.status === 'failed') {
        verdict = 'failed';
        message = `step ${step.index + 1} (${step.label}): ${result.message ?? 'failed'}`;
        break;
      }
    }
  } catch (thrown) {
    const err = await causeOf(thrown, [...machines.values()], signal);
    const classified = classify(err, signal, deps.signal);
    verdict = classified.verdict;
    errorKind = classified.errorKind;
    message = classified.message;
    log(`run ended: ${verdict}: ${message}`);
    // The step that was running when it broke gets an error record, so steps.jsonl is complete.
    const running = plan.steps[steps.length];
    if (running && machines.size > 0) {
      const errored: StepResult = {
        index: running.index,
        label: running.label,
        kind: running.kind,
        machine: running.machine,
        status: 'error',
        startedAt: new Date().toISOString(),
        durationMs: 0,
        message,
      };
      steps.push(errored);
      await fs.appendFile(stepsFile, JSON.stringify(errored) + '\n').catch(() => undefined);
    }
  } finally {
    clearTimeout(timer);
  }

  // Steps that never ran are listed as skipped, so every report shows the whole plan.
  for (const step of plan.steps.slice(steps.length)) {
    steps.push({ index: step.index, label: step.label, kind: step.kind, machine: step.machine, status: 'skipped', startedAt: new Date().toISOString(), durationMs: 0 });
  }
  for (const r of records) r.boots = machines.get(r.name)?.machine.bootCount ?? r.boots;

  const keepThem = deps.keep === 'always' || (deps.keep === 'on-failure' && verdict !== 'passed');
  const kept: G[] = [];
  for (const guest of machines.values()) {
    if (keepThem && !guest.machine.failureSignal.aborted && !deps.signal.aborted) {
      await guest.writeKnownHosts();
      kept.push(guest);
    } else {
      await guest.destroy(false).catch((e: unknown) => log(`teardown of ${guest.plan.name} failed: ${errorMessage(e)}`));
    }
  }
  await commandLog.close().catch(() => undefined);

  const result: RunResult = {
    ...runIdentity(plan),
    verdict,
    errorKind,
    message,
    attempts: deps.attempt,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    guestTimeMs,
    machines: records,
    steps,
    findings: testbed ? withRestsOn(findings, steps) : findings,
    dir: path.relative(path.dirname(path.dirname(deps.dir)), deps.dir),
  };
  return { result, kept };
}

function asInfra(err: unknown, kind: 'image' | 'machine-start'): Error {
  if (err instanceof InfraError || err instanceof MachineFailure) return err;
  if (err instanceof Error && err.name === 'AbortError') return err;
  return new InfraError(errorMessage(err), kind);
}

/**
 * How long a lost SSH connection waits for its machine to be declared dead. Killing QEMU resets the
 * forwarded TCP connection at once, so the session's error usually arrives first; QEMU's exit is
 * seen tens of milliseconds later (80 ms measured under TCG) and is the real cause.
 */
export const MACHINE_CAUSE_GRACE_MS = 2000;

/**
 * The error that explains a broken run: a machine that died (or stopped on a full disk) around the
 * time a guest command failed is the cause, not the dropped connection that followed from it.
 */
async function causeOf(err: unknown, guests: readonly PlanGuest[], signal: AbortSignal): Promise<unknown> {
  if (err instanceof MachineFailure || signal.aborted || !(err instanceof InfraError) || guests.length === 0) return err;
  const failed = () => guests.map((g) => g.machine.failureSignal).find((s) => s.aborted);
  const withContext = (failure: unknown): unknown =>
    failure instanceof MachineFailure ? new MachineFailure(failure.kind, `${failure.message}\n(what the step saw: ${err.message})`, failure.consoleExcerpt) : err;
  const already = failed();
  if (already) return withContext(already.reason);
  const stopListening = new AbortController();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, MACHINE_CAUSE_GRACE_MS);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    for (const g of guests) g.machine.failureSignal.addEventListener('abort', done, { once: true, signal: stopListening.signal });
  });
  stopListening.abort();
  const late = failed();
  return late ? withContext(late.reason) : err;
}

function classify(err: unknown, scenarioSignal: AbortSignal, runSignal: AbortSignal): { verdict: RunVerdict; errorKind?: string; message: string } {
  if (runSignal.aborted) return { verdict: 'interrupted', message: 'interrupted' };
  if (scenarioSignal.aborted && scenarioSignal.reason instanceof ScenarioTimeout) return { verdict: 'timed-out', errorKind: 'timeout', message: scenarioSignal.reason.message };
  if (err instanceof MachineFailure) {
    return { verdict: 'error', errorKind: err.kind === 'died' ? 'machine-died' : `machine-${err.kind}`, message: `${err.message}${err.consoleExcerpt && !err.message.includes(err.consoleExcerpt) ? `\nconsole:\n${err.consoleExcerpt}` : ''}` };
  }
  if (err instanceof InfraError) return { verdict: 'error', errorKind: err.kind, message: err.message };
  const e = err instanceof Error ? err : new Error(String(err));
  return { verdict: 'error', errorKind: 'other', message: e.message };
}

