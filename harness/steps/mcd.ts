/**
 * `mcd: OP`: the machine-config-daemon's own flows replayed on the guest (harness/mcd/): read the
 * facts the daemon reads, expand the operation into the daemon's command sequence at the pinned MCO
 * commit, run it item by item, and record every item (its calls.yaml id, the MCO function it
 * follows, exit, timing). The record feeds the report's Q1 table.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { commonStepKeys } from '../scenario/schema-parts.js';
import { loadCalls } from '../mcd/calls.js';
import { loadGoTypes, type GoTypes } from '../mcd/daemon-view.js';
import { executePlan, type PlanOutcome, type PlanRunner } from '../mcd/execute.js';
import { expand, mcoDataFrom, type McoData } from '../mcd/expand.js';
import { factsArgv, factsFrom, FactsError, parseFactLines, type FactNeeds } from '../mcd/facts.js';
import { mcdStepSchema, toOperation, type McdStep } from '../mcd/step-schema.js';
import type { McdRecordSchema } from '../results/format.js';
import type { Static } from '@sinclair/typebox';
import { summarizeState } from '../run/state-summary.js';
import { excerpt, exec, finish } from './outcome.js';
import { defineStepKind, WEIGHTS, type StepContext, type StepOutcome } from './types.js';

export const McdStepSchema = mcdStepSchema(commonStepKeys);
type McdRecord = Static<typeof McdRecordSchema>;

/**
 * The daemon retries a rebase for up to 250 s (10 s doubling to a 60 s cap, 7 tries). The
 * testbed's stand-ins answer deterministically, so there the waits are a tenth of the daemon's;
 * the record carries the scale.
 */
const TESTBED_BACKOFF_SCALE = 0.1;

let tables: Promise<{ data: McoData; goTypes: GoTypes; mcoCommit: string }> | null = null;
function mcoTables() {
  tables ??= Promise.all([loadCalls(), loadGoTypes()]).then(([calls, goTypes]) => ({ data: mcoDataFrom(calls), goTypes, mcoCommit: calls.mco.commit }));
  return tables;
}

function needsOf(def: McdStep): FactNeeds {
  const driver = def.driver ?? 'rpm-ostree';
  const extensionsImage = 'extensions-source' in def && def['extensions-source'] && 'image' in def['extensions-source'] ? def['extensions-source'].image : '';
  switch (def.mcd) {
    case 'apply-os-changes':
      return { driver, scope: 'os-change', image: typeof def.image === 'string' ? def.image : (def.image?.new ?? ''), extensionsImage };
    case 'firstboot':
      return { driver, scope: 'firstboot', image: def.image, extensionsImage };
    case 'update-via-container':
      return { driver, scope: 'os-change', image: def.image, extensionsImage };
    case 'update-tuning-args':
      return { driver, scope: 'os-change', image: '', extensionsImage: '' };
    default:
      return { driver, scope: 'identity', image: '', extensionsImage: '' };
  }
}

/** The operations that only read (their commands are status and kargs reads, `rpm -q`). */
const readOnly = (def: McdStep): boolean => def.mcd === 'status' || def.mcd === 'validate';

function describeMcd(def: McdStep): string {
  const needs = needsOf(def);
  const nic = def.mcd === 'persist-nic-names' ? [def.os ?? '', def.root && def.root !== '/' ? `root ${def.root}` : ''].filter(Boolean).join(', ') : '';
  return [`mcd ${def.mcd}`, nic ? `(${nic})` : '', def.driver === 'bootc' ? '(driver: bootc)' : '', needs.image ? `→ ${needs.image}` : ''].filter(Boolean).join(' ');
}

/**
 * Which Q1 column the step's calls belong to: the bootc-driven daemon, today's daemon on a host an
 * earlier step moved with `bootc switch`, or today's daemon on an rpm-ostree-managed host.
 */
function phaseOf(def: McdStep, ctx: StepContext): McdRecord['phase'] {
  if (def.driver === 'bootc') return 'bootcDriver';
  const switched = ctx.env.plan.steps.some((s) => s.index < ctx.step.index && s.machine === ctx.step.machine && s.kind === 'bootc' && s.def.bootc === 'switch');
  return switched ? 'afterSwitch' : 'rpmOstreeHost';
}

function runnerFor(ctx: StepContext, goTypes: GoTypes): PlanRunner {
  return {
    testbed: ctx.env.testbed,
    backoffScale: ctx.env.testbed ? TESTBED_BACKOFF_SCALE : 1,
    goTypes,
    async run(argv) {
      const r = await exec(ctx, argv, true);
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, durationMs: r.durationMs, timedOut: r.timedOut };
    },
    async sleep(ms) {
      ctx.env.log(`  (the daemon's backoff: waiting ${Math.round(ms)} ms before the next try)`);
      await delay(ms, undefined, { signal: ctx.signal });
    },
  };
}

function outcomePhrase(o: PlanOutcome): string {
  const commands = o.items.filter((i) => i.kind === 'command' && i.status !== 'skipped').length;
  switch (o.outcome) {
    case 'completed':
      return `completed (${commands} commands)`;
    case 'reboot-requested':
      return `completed, the daemon reboots (${commands} commands)`;
    case 'daemon-error':
      return 'daemon error';
    case 'not-possible':
      return 'not possible here';
  }
}

async function runMcd(def: McdStep, ctx: StepContext): Promise<StepOutcome> {
  const { data, goTypes, mcoCommit } = await mcoTables();
  const needs = needsOf(def);
  const label = describeMcd(def);
  const before = ctx.env.lastState.get(ctx.step.machine) ?? null;
  ctx.env.log(`reading the daemon's facts (one call: status, os-release, tools, files)`);
  const read = await ctx.machine.exec(factsArgv(needs), { timeoutMs: ctx.timeoutMs, sudo: true, signal: ctx.signal });
  ctx.env.addGuestTime(read.durationMs);
  let facts;
  try {
    if (read.exitCode !== 0) throw new FactsError(`the facts read failed (exit ${read.exitCode ?? read.signal}): ${excerpt(read.stderr) ?? ''}`);
    facts = factsFrom(parseFactLines(read.stdout), needs, goTypes);
  } catch (err) {
    if (!(err instanceof FactsError)) throw err;
    ctx.env.log(`  the daemon cannot start: ${err.message}`);
    const result = { ...ctx.base, command: label };
    const ok = Boolean(ctx.step.def['expect-failure']);
    return finish(ctx, result, ok, ok ? undefined : err.message, { kind: 'action', outcome: 'daemon cannot start', ok: false, command: label, note: err.message });
  }
  const { operation, data: opData } = toOperation(def, facts.bootedImage, data);
  const plan = expand(operation, facts, opData, { uuid: randomUUID(), tempSuffix: String(randomInt(100_000_000, 999_999_999)) });
  const outcome = await executePlan(plan, runnerFor(ctx, goTypes));
  // status and validate only read: the state read before them still holds.
  const snap = readOnly(def) ? await ctx.env.currentState(ctx.step.machine, `after ${ctx.step.label}`) : await ctx.env.snapshot(ctx.step.machine, `after ${ctx.step.label}`);
  const record: McdRecord = {
    operation: plan.operation,
    driver: plan.driver,
    phase: phaseOf(def, ctx),
    outcome: outcome.outcome,
    ...(outcome.error ? { error: outcome.error } : {}),
    mcoCommit,
    backoffScale: ctx.env.testbed ? TESTBED_BACKOFF_SCALE : 1,
    items: outcome.items,
  };
  const finished = outcome.outcome === 'completed' || outcome.outcome === 'reboot-requested';
  const ef = ctx.step.def['expect-failure'];
  let ok = finished;
  let message = outcome.error;
  if (ef) {
    ok = !finished && (typeof ef !== 'object' || ef.stderr === undefined || new RegExp(ef.stderr, 'u').test(outcome.error ?? ''));
    message = finished ? 'expected the daemon to fail, but it completed' : ok ? undefined : `failed as expected, but the error does not match /${typeof ef === 'object' ? ef.stderr : ''}/: ${outcome.error}`;
  }
  const result = { ...ctx.base, command: label, stateIndex: snap.index, mcd: record, expectedFailure: Boolean(ef) };
  return finish(ctx, result, ok, message, {
    kind: 'action',
    outcome: outcomePhrase(outcome),
    ok: finished,
    command: label,
    ...(outcome.error ? { note: outcome.error } : {}),
    observed: { mcd: { operation: plan.operation, driver: plan.driver, outcome: outcome.outcome, calls: [...new Set(outcome.items.flatMap((i) => (i.call && i.status !== 'skipped' ? [`${i.call}: ${i.status}`] : [])))] } },
    before: before ? summarizeState(before) : null,
    after: summarizeState(snap.state),
  });
}

export const mcdKind = defineStepKind({
  kind: 'mcd',
  schema: McdStepSchema,
  describe: describeMcd,
  // An OS change runs up to four deploying calls (revert, rebase, kargs, kernel/extensions) plus the daemon's backoff.
  defaultTimeoutMs: (t, def) => (def.mcd === 'apply-os-changes' || def.mcd === 'firstboot' ? 5 * t.osOperationMs + 250_000 : def.mcd === 'update-via-container' ? 2 * t.osOperationMs : t.osOperationMs + 3 * t.commandMs),
  weight: (def) => (def.mcd === 'apply-os-changes' || def.mcd === 'firstboot' ? 3 * WEIGHTS.tool : def.mcd === 'status' || def.mcd === 'validate' ? WEIGHTS.other * 5 : WEIGHTS.tool),
  changesState: (def) => !readOnly(def),
  expectFailure: true,
  run: runMcd,
});
