/**
 * Plans from real scenario text (the real loader) and a StepEnv over fake guests, so step kinds
 * and executeStep run as in a run, without a VM.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadScenarioFile } from '../../harness/scenario/load.js';
import type { RunPlan } from '../../harness/scenario/plan.js';
import { loadContext } from '../../harness/scenario/questions.js';
import { scaledTimeouts } from '../../harness/run/timeouts.js';
import type { HostState } from '../../harness/state/types.js';
import type { StepEnv } from '../../harness/steps/types.js';
import type { FakeGuest } from './fake-guest.js';

/** A scenario folder of its own (copy sources live beside the scenario file). */
export async function scenarioDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-steps-'));
}

/** The plans of a one-machine testbed scenario with these steps (YAML list items). */
export async function plansFor(dir: string, name: string, steps: string, head = ''): Promise<RunPlan[]> {
  const file = path.join(dir, `${name}.yaml`);
  await fs.writeFile(file, `name: ${name}\nsummary: s\nmachine: { image: testbed }\n${head}steps:\n${steps}`);
  return (await loadScenarioFile(file, await loadContext())).plans;
}

export interface FakeEnv extends StepEnv {
  logLines: string[];
  snapshots: { machine: string; reason: string }[];
}

export function fakeEnv(plan: RunPlan, guests: Record<string, FakeGuest>, runDir: string): FakeEnv {
  const fresh = new Map<string, { state: HostState; index: number }>();
  const lastState = new Map<string, HostState>();
  let count = 0;
  const env: FakeEnv = {
    plan,
    runId: 'test-run',
    machines: new Map(Object.entries(guests)),
    timeouts: scaledTimeouts(1),
    signal: new AbortController().signal,
    logLines: [],
    snapshots: [],
    log: (line) => env.logLines.push(line),
    snapshot: async (machine, reason) => {
      env.snapshots.push({ machine, reason });
      const state = await guests[machine]!.readState();
      const snap = { state, index: count++ };
      lastState.set(machine, state);
      fresh.set(machine, snap);
      return snap;
    },
    currentState: async (machine, reason) => fresh.get(machine) ?? env.snapshot(machine, reason),
    lastState,
    runDir,
    testbed: true,
    addGuestTime: () => undefined,
  };
  return env;
}
