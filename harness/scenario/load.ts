/**
 * Scenario loading: YAML → schema check → semantic checks → matrix expansion → RunPlans.
 * Every problem is collected (not just the first) and reported as file:line:column.
 */
import { promises as fs } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { InputError, type LocatedProblem } from '../../core/errors.js';
import { locateProblems, sortProblems } from '../../core/load-checked.js';
import { repoRoot } from '../../core/paths.js';
import { checkValue, isPlainObject } from '../../core/schema-check.js';
import { parseDurationMs, parseSizeMiB } from '../../core/units.js';
import { readYamlFile, type YamlSource } from '../../core/yaml-source.js';
import { didYouMean } from '../../core/did-you-mean.js';
import { displayPath, type Catalog } from '../../images/catalog.js';
import { findReferences, interpolate, type Scalar } from './interpolate.js';
import { cellId, cellsWithoutSteps, expandMatrix, type MatrixInput } from './matrix.js';
import { DEFAULT_MEMORY_MIB, DEFAULT_SCENARIO_TIMEOUT_MS, plannedStep, type MachinePlan, type PlannedStep, type RunPlan } from './plan.js';
import { ScenarioSchema, type MachineDef, type Scenario, type StepDef } from './schema.js';
import { describeStep, kindModule, kindOf, shorthandStep, type KindedStep, type StepKind } from '../steps/registry.js';
import type { StepCheckContext, StepProblem } from '../steps/types.js';

/** Words the CLI uses as subcommands; no scenario may be named like one. */
export const RESERVED_NAMES = ['validate', 'doctor', 'images', 'gc', 'schema', 'merge', 'list', 'help', 'version', 'run'] as const;

export const scenariosDir = path.join(repoRoot, 'scenarios');
export const DEFAULT_MACHINE_NAME = 'default';

export interface LoadContext {
  catalog: Catalog;
  questionIds: Set<string>;
}

export interface LoadedScenario {
  file: string;
  scenario: Scenario;
  plans: RunPlan[];
}

/** Parts of a scenario where `${{ … }}` may appear. */
const INTERPOLATED_KEYS = ['steps', 'machine', 'machines'];

export async function loadScenarioFile(file: string, ctx: LoadContext): Promise<LoadedScenario> {
  const shown = displayPath(file);
  const source = await readYamlFile(file, shown);
  const problems: LocatedProblem[] = [];
  const add = (p: { path: readonly (string | number)[]; message: string; at?: 'key' | 'value' }) =>
    problems.push({ ...source.locate(p.path, p.at ?? 'value'), message: p.message });

  if (!isPlainObject(source.value)) {
    add({ path: [], message: `a scenario must be a mapping with keys name, summary, machine, steps; got ${source.value === null ? 'an empty document' : 'something else'}` });
    throw new InputError(`${shown}: invalid scenario`, problems);
  }
  const raw = source.value;
  nulProblems(raw, []).forEach(add);
  problems.push(...locateProblems(source, checkValue(ScenarioSchema, raw, { deferInterpolation: true })));
  if (problems.length > 0) throw new InputError(`${shown}: invalid scenario`, sortProblems(problems));
  const scenario = raw as unknown as Scenario;

  checkIdentity(scenario, file, add);
  checkQuestions(scenario, ctx, add);
  const machineNames = checkMachines(scenario, ctx, add);
  checkSteps(scenario, machineNames, add);

  const expansion = expandMatrix(scenario.matrix as MatrixInput | undefined);
  expansion.problems.forEach(add);
  const vars = (scenario.vars ?? {}) as Record<string, Scalar>;

  checkWhen(scenario, expansion.axes, expansion.cells, add);
  if (expansion.problems.length === 0) cellsWithoutSteps(scenario.steps, expansion.cells, scenario.name).forEach(add);
  checkUniqueIds(scenario, expansion.cells, add);

  const { refs, problems: syntax } = findReferences(raw);
  syntax.forEach(add);
  for (const ref of refs) {
    const top = String(ref.path[0]);
    if (!INTERPOLATED_KEYS.includes(top)) {
      add({ path: ref.path, message: `\${{ ${ref.namespace}.${ref.name} }} is not allowed in '${top}'; interpolation works in steps and machine(s) only` });
      continue;
    }
    const defined = ref.namespace === 'matrix' ? expansion.axes : Object.keys(vars);
    if (!defined.includes(ref.name)) {
      const hint = didYouMean(ref.name, defined);
      add({
        path: ref.path,
        message: `undefined ${ref.namespace}.${ref.name}${hint ? ` (did you mean ${ref.namespace}.${hint}?)` : ''}; defined: ${defined.join(', ') || 'none'}`,
      });
    }
  }
  if (problems.length > 0) throw new InputError(`${shown}: invalid scenario`, sortProblems(problems));

  // Per cell: substitute, then check again what interpolation deferred (enums, patterns, types).
  const plans: RunPlan[] = [];
  for (const cell of expansion.cells) {
    const resolved = { ...scenario, ...interpolate(pick(scenario, INTERPOLATED_KEYS), { matrix: cell, vars }) } as Scenario;
    const cellProblems = checkValue(ScenarioSchema, resolved, { deferInterpolation: false });
    const where = Object.keys(cell).length > 0 ? ` (in matrix cell ${cellId(scenario.name, cell)})` : '';
    if (cellProblems.length > 0) {
      problems.push(...locateProblems(source, cellProblems, where));
      continue;
    }
    const addInCell: Add = (p) => add({ ...p, message: p.message + where });
    const cellMachineNames = checkMachines(resolved, ctx, addInCell);
    if (cellMachineNames.length === 0) continue;
    const kindProblems = checkStepKinds(resolved, { machines: resolved.machines ? cellMachineNames : [], baseDir: path.dirname(path.resolve(file)) });
    kindProblems.forEach(addInCell);
    if (kindProblems.length > 0) continue;
    plans.push({ ...toPlan(resolved, cell, file, ctx), revision: createHash('sha256').update(source.text).digest('hex').slice(0, 16) });
  }
  if (problems.length > 0) throw new InputError(`${shown}: invalid scenario`, sortProblems(dedupe(problems)));
  return { file, scenario, plans };
}

type Add = (p: { path: readonly (string | number)[]; message: string; at?: 'key' | 'value' }) => void;

function checkIdentity(scenario: Scenario, file: string, add: Add): void {
  const base = path.basename(file).replace(/\.ya?ml$/, '');
  if (scenario.name !== base) add({ path: ['name'], message: `name '${scenario.name}' must equal the file's base name '${base}'` });
  if ((RESERVED_NAMES as readonly string[]).includes(scenario.name)) {
    add({ path: ['name'], message: `'${scenario.name}' is a reserved command word (${RESERVED_NAMES.join(', ')}); choose another name` });
  }
}

function checkQuestions(scenario: Scenario, ctx: LoadContext, add: Add): void {
  (scenario.questions ?? []).forEach((q, i) => {
    if (!ctx.questionIds.has(q)) add({ path: ['questions', i], message: `unknown question '${q}'; known: ${[...ctx.questionIds].join(', ')} (scenarios/questions.yaml)` });
  });
  const seen = new Set<string>();
  (scenario.questions ?? []).forEach((q, i) => {
    if (seen.has(q)) add({ path: ['questions', i], message: `duplicate question '${q}'` });
    seen.add(q);
  });
}

/** Returns the machine names, or [] when the machine section is invalid. */
function checkMachines(scenario: Scenario, ctx: LoadContext, add: Add): string[] {
  if (scenario.machine && scenario.machines) {
    add({ path: ['machines'], at: 'key', message: "use either 'machine' (one machine) or 'machines' (several), not both" });
    return [];
  }
  if (!scenario.machine && !scenario.machines) {
    add({ path: [], message: "missing 'machine' (or 'machines'): which image should the scenario boot?" });
    return [];
  }
  const entries: [string, MachineDef, (string | number)[]][] = scenario.machine
    ? [[DEFAULT_MACHINE_NAME, scenario.machine, ['machine']]]
    : Object.entries(scenario.machines!).map(([n, m]) => [n, m, ['machines', n]]);
  let ok = true;
  for (const [, m, p] of entries) {
    if (typeof m.image === 'string' && !m.image.includes('${{') && !ctx.catalog.has(m.image)) {
      const hint = didYouMean(m.image, [...ctx.catalog.keys()]);
      add({ path: [...p, 'image'], message: `unknown image '${m.image}'${hint ? ` (did you mean '${hint}'?)` : ''}; catalog: ${[...ctx.catalog.keys()].join(', ')}` });
      ok = false;
    }
  }
  return ok ? entries.map(([n]) => n) : [];
}

/**
 * Step names and finding ids must be unique within each run. Steps with `when:` may share them
 * when no cell runs both (one finding id per matrix row, filled by whichever step applies).
 */
function checkUniqueIds(scenario: Scenario, cells: Record<string, Scalar>[], add: Add): void {
  const reported = new Set<string>();
  for (const cell of cells) {
    for (const key of ['name', 'record'] as const) {
      const seen = new Map<string, number>();
      scenario.steps.forEach((s: StepDef, i) => {
        if (typeof s === 'string' || !stepApplies(s, cell)) return;
        const id = s[key];
        if (!id) return;
        const first = seen.get(id);
        if (first !== undefined && !reported.has(`${key}:${i}`)) {
          reported.add(`${key}:${i}`);
          add({ path: ['steps', i, key], message: `duplicate ${key === 'name' ? 'step name' : 'finding id'} '${id}' (also step ${first + 1})` });
        }
        if (first === undefined) seen.set(id, i);
      });
    }
  }
}

/** The step's kind, with `- reboot`-style bare words expanded; null for an unknown word (the schema check reported it). */
function kinded(raw: StepDef): KindedStep | null {
  return typeof raw === 'string' ? shorthandStep(raw) : kindOf(raw);
}

/** Checks that hold for every kind: where a step runs, and whether `expect-failure` applies. */
function checkSteps(scenario: Scenario, machineNames: string[], add: Add): void {
  const several = scenario.machines !== undefined && Object.keys(scenario.machines).length > 1;
  scenario.steps.forEach((s: StepDef, i) => {
    const step = kinded(s);
    if (!step) return;
    if (typeof s === 'string') {
      if (several) add({ path: ['steps', i], message: `with several machines every step needs 'on' (one of: ${machineNames.join(', ')}); a bare '${s}' cannot name one: write '${s}: {}' with 'on:'` });
      return;
    }
    if ('expect-failure' in s && s['expect-failure'] !== undefined && !kindModule(step.kind).expectFailure) {
      add({ path: ['steps', i, 'expect-failure'], at: 'key', message: `'expect-failure' does not apply to ${step.kind} steps` });
    }
    if (s.on !== undefined) {
      if (!scenario.machines) add({ path: ['steps', i, 'on'], at: 'key', message: "'on' needs 'machines' (several named machines); this scenario has one machine" });
      else if (!machineNames.includes(s.on)) add({ path: ['steps', i, 'on'], message: `unknown machine '${s.on}'; machines: ${machineNames.join(', ')}` });
    } else if (several) {
      add({ path: ['steps', i], message: `with several machines every step needs 'on' (one of: ${machineNames.join(', ')})` });
    }
  });
}

/** Each kind's own checks (harness/steps/<kind>.ts), on the values of one matrix cell. */
function checkStepKinds(scenario: Scenario, ctx: StepCheckContext): (StepProblem & { path: (string | number)[] })[] {
  return scenario.steps.flatMap((s, i) => {
    const step = kinded(s);
    return step ? checkKind(step, ctx).map((p) => ({ ...p, path: ['steps', i, ...p.path] })) : [];
  });
}

function checkKind<K extends StepKind>(step: KindedStep<K>, ctx: StepCheckContext): StepProblem[] {
  return kindModule<K>(step.kind).check?.(step.def, ctx) ?? [];
}

/** NUL bytes cannot travel in a guest command line or a file name: refuse them where they are. */
function nulProblems(value: unknown, at: (string | number)[]): { path: (string | number)[]; message: string; at?: 'key' }[] {
  if (typeof value === 'string') return value.includes('\0') ? [{ path: at, message: 'contains a NUL byte (\\0), which no guest command or path can carry' }] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => nulProblems(v, [...at, i]));
  if (isPlainObject(value)) {
    return Object.entries(value).flatMap(([k, v]) => [
      ...(k.includes('\0') ? [{ path: [...at, k], at: 'key' as const, message: 'a key contains a NUL byte (\\0)' }] : []),
      ...nulProblems(v, [...at, k]),
    ]);
  }
  return [];
}

/** `when:` names matrix axes and values that exist, so a typo cannot silently drop a step. */
function checkWhen(scenario: Scenario, axes: string[], cells: Record<string, Scalar>[], add: Add): void {
  scenario.steps.forEach((s, i) => {
    if (typeof s === 'string' || !s.when) return;
    for (const [axis, want] of Object.entries(s.when)) {
      if (!axes.includes(axis)) {
        const hint = didYouMean(axis, axes);
        add({ path: ['steps', i, 'when', axis], at: 'key', message: `'when' names unknown matrix axis '${axis}'${hint ? ` (did you mean '${hint}'?)` : ''}; axes: ${axes.join(', ') || 'none'}` });
        continue;
      }
      const known = [...new Set(cells.map((c) => c[axis]))];
      (Array.isArray(want) ? want : [want]).forEach((v, j) => {
        if (!known.includes(v)) {
          add({
            path: Array.isArray(want) ? ['steps', i, 'when', axis, j] : ['steps', i, 'when', axis],
            message: `'when' value ${JSON.stringify(v)} never occurs on axis '${axis}'; values: ${known.map((k) => JSON.stringify(k)).join(', ')}`,
          });
        }
      });
    }
  });
}

/** Does the step run in this cell? */
function stepApplies(def: { when?: Record<string, Scalar | Scalar[]> }, cell: Record<string, Scalar>): boolean {
  if (!def.when) return true;
  return Object.entries(def.when).every(([axis, want]) => (Array.isArray(want) ? want : [want]).includes(cell[axis]!));
}

function toPlan(scenario: Scenario, cell: Record<string, Scalar>, file: string, ctx: LoadContext): Omit<RunPlan, 'revision'> {
  const defs: [string, MachineDef][] = scenario.machine ? [[DEFAULT_MACHINE_NAME, scenario.machine]] : Object.entries(scenario.machines!);
  const machines: MachinePlan[] = defs.map(([name, m]) => {
    const image = ctx.catalog.get(m.image)!;
    return {
      name,
      image,
      memoryMiB: m.memory !== undefined ? parseSizeMiB(m.memory) : image.entry.memory ? parseSizeMiB(image.entry.memory) : DEFAULT_MEMORY_MIB,
      cpus: m.cpus ?? null,
      diskMiB: m.disk !== undefined ? parseSizeMiB(m.disk) : null,
      transitionSafeLogin: m['transition-safe-login'] ?? true,
    };
  });
  const steps: PlannedStep[] = scenario.steps
    .map((raw) => kinded(raw))
    .filter((step): step is KindedStep => step !== null && stepApplies(step.def, cell))
    .map((step, index) =>
      plannedStep(
        {
          index,
          label: describeStep(step),
          machine: step.def.on ?? machines[0]!.name,
          timeoutMs: 'timeout' in step.def && step.def.timeout !== undefined ? parseDurationMs(step.def.timeout) : null,
        },
        step,
      ),
    );
  return {
    id: cellId(scenario.name, cell),
    scenario: scenario.name,
    file: displayPath(file),
    summary: scenario.summary,
    questions: scenario.questions ?? [],
    tags: scenario.tags ?? [],
    cell,
    machines,
    steps,
    timeoutMs: scenario.timeout !== undefined ? parseDurationMs(scenario.timeout) : DEFAULT_SCENARIO_TIMEOUT_MS,
    baseDir: path.dirname(path.resolve(file)),
  };
}

function pick<T extends object>(obj: T, keys: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => keys.includes(k))) as Partial<T>;
}

function dedupe(problems: LocatedProblem[]): LocatedProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.line}:${p.column}:${p.message.replace(/ \(in matrix cell .*\)$/, '')}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Scenario files in scenarios/ (one scenario each). */
export async function listScenarioFiles(dir = scenariosDir): Promise<string[]> {
  const names = await fs.readdir(dir);
  return names
    .filter((n) => (n.endsWith('.yaml') || n.endsWith('.yml')) && n !== 'questions.yaml')
    .sort()
    .map((n) => path.join(dir, n));
}

/**
 * Load several scenario files; problems in all of them are reported together, and duplicate
 * scenario names across files are errors.
 */
export async function loadScenarioFiles(files: string[], ctx: LoadContext): Promise<LoadedScenario[]> {
  const loaded: LoadedScenario[] = [];
  const problems: LocatedProblem[] = [];
  const byName = new Map<string, string>();
  for (const file of files) {
    try {
      const one = await loadScenarioFile(file, ctx);
      const other = byName.get(one.scenario.name);
      if (other) {
        const src: YamlSource = await readYamlFile(file, displayPath(file));
        problems.push({ ...src.locate(['name']), message: `duplicate scenario name '${one.scenario.name}' (also in ${other})` });
        continue;
      }
      byName.set(one.scenario.name, displayPath(file));
      loaded.push(one);
    } catch (err) {
      if (err instanceof InputError) problems.push(...(err.problems.length ? err.problems : [{ file: displayPath(file), line: 1, column: 1, message: err.message }]));
      else throw err;
    }
  }
  if (problems.length > 0) throw new InputError('invalid scenarios', problems);
  return loaded;
}
