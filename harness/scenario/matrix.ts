/**
 * Matrix expansion with CI-style semantics: the cross product of the named axes, minus `exclude`
 * entries (partial matches), plus `include` entries (complete combinations).
 */
import type { DataPath } from '../../core/yaml-source.js';
import { runSlug } from '../results/layout.js';
import type { Scalar } from './interpolate.js';

/**
 * Runs one scenario may expand to. A few hundred runs is already a day of machine time; the bound
 * is checked on the product of the axis lengths, before anything is expanded, so that a small file
 * with aliased axes cannot make the loader build billions of cells.
 */
export const MAX_MATRIX_CELLS = 256;

export type Cell = Record<string, Scalar>;

export interface MatrixInput {
  [axis: string]: unknown;
  exclude?: Record<string, Scalar>[];
  include?: Record<string, Scalar>[];
}

export interface MatrixProblem {
  path: DataPath;
  at: 'key' | 'value';
  message: string;
}

export interface Expansion {
  axes: string[];
  cells: Cell[];
  problems: MatrixProblem[];
}

export function expandMatrix(matrix: MatrixInput | undefined): Expansion {
  if (!matrix) return { axes: [], cells: [{}], problems: [] };
  const problems: MatrixProblem[] = [];
  const axes = Object.keys(matrix).filter((k) => k !== 'include' && k !== 'exclude');
  const values = (axis: string) => matrix[axis] as Scalar[];

  for (const axis of axes) {
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(axis)) {
      problems.push({ path: ['matrix', axis], at: 'key', message: `invalid axis name '${axis}': use letters, digits, '_' and '-'` });
    }
    // Run ids show values as text, so 1 and "1" (or true and "true") would be the same run.
    const seen = new Map<string, Scalar>();
    values(axis).forEach((v, i) => {
      const text = String(v);
      const first = seen.get(text);
      if (first === undefined) seen.set(text, v);
      else if (first === v) problems.push({ path: ['matrix', axis, i], at: 'value', message: `duplicate value ${JSON.stringify(v)} in axis '${axis}'` });
      else problems.push({ path: ['matrix', axis, i], at: 'value', message: `value ${JSON.stringify(v)} in axis '${axis}' reads the same as ${JSON.stringify(first)} in a run id; keep one` });
    });
  }

  const lengths = axes.map((a) => values(a).length);
  const product = lengths.reduce((n, l) => n * l, axes.length > 0 ? 1 : 0);
  const total = product + (matrix.include ?? []).length;
  if (total > MAX_MATRIX_CELLS) {
    problems.push({
      path: ['matrix'],
      at: 'key',
      message: `the matrix expands to ${product > Number.MAX_SAFE_INTEGER ? product.toExponential(2) : total} runs (${lengths.join(' × ')}${matrix.include?.length ? ` + ${matrix.include.length} included` : ''}); at most ${MAX_MATRIX_CELLS} runs per scenario`,
    });
    // Not expanded: one cell per value position, so every value of every axis still occurs for the
    // checks that look at values (when:), without building the product.
    const width = Math.max(...lengths);
    const sample = Array.from({ length: width }, (_, i) => Object.fromEntries(axes.map((a) => [a, values(a)[Math.min(i, values(a).length - 1)]!])) as Cell);
    return { axes, cells: sample, problems };
  }

  let cells: Cell[] = axes.length > 0 ? [{}] : [];
  for (const axis of axes) {
    cells = cells.flatMap((cell) => values(axis).map((v) => ({ ...cell, [axis]: v })));
  }

  (matrix.exclude ?? []).forEach((entry, i) => {
    for (const key of Object.keys(entry)) {
      if (!axes.includes(key)) problems.push({ path: ['matrix', 'exclude', i, key], at: 'key', message: `exclude names unknown axis '${key}'; axes: ${axes.join(', ') || 'none'}` });
    }
    cells = cells.filter((cell) => !Object.entries(entry).every(([k, v]) => cell[k] === v));
  });

  (matrix.include ?? []).forEach((entry, i) => {
    const missing = axes.filter((a) => !(a in entry));
    const unknown = Object.keys(entry).filter((k) => !axes.includes(k));
    for (const key of unknown) {
      problems.push({ path: ['matrix', 'include', i, key], at: 'key', message: `include names unknown axis '${key}'; axes: ${axes.join(', ') || 'none'}` });
    }
    if (missing.length > 0) {
      problems.push({ path: ['matrix', 'include', i], at: 'value', message: `include must name every axis; missing: ${missing.join(', ')}` });
      return;
    }
    if (cells.some((cell) => axes.every((a) => String(cell[a]) === String(entry[a])))) {
      problems.push({ path: ['matrix', 'include', i], at: 'value', message: 'include repeats a combination that is already in the matrix' });
      return;
    }
    cells.push({ ...entry });
  });

  if (cells.length === 0 && problems.length === 0) {
    problems.push({ path: ['matrix'], at: 'value', message: 'the matrix is empty: every combination was excluded (or no axis has values)' });
  }
  if (problems.length === 0) problems.push(...sharedIdsOrFolders(cells));
  return { axes, cells, problems };
}

/**
 * Every cell needs its own run id and its own results folder. Ids are `name[a=v,…]` (a value with
 * ',' or '=' can read as two axes) and folders replace characters outside [A-Za-z0-9._-] (so 'x/y'
 * and 'x_y' would share one, and a value ending in '.retry-1' would take a retry's folder).
 */
function sharedIdsOrFolders(cells: Cell[]): MatrixProblem[] {
  const problems: MatrixProblem[] = [];
  const ids = new Map<string, string>();
  const folders = new Map<string, string>();
  for (const cell of cells) {
    const id = cellId('', cell);
    const folder = runSlug(id);
    const sameId = ids.get(id);
    const sameFolder = folders.get(folder);
    if (sameId !== undefined) {
      problems.push({ path: ['matrix'], at: 'key', message: `two matrix cells have the same run id ${id}; a value containing ',' or '=' reads as another axis` });
    } else if (sameFolder !== undefined) {
      problems.push({ path: ['matrix'], at: 'key', message: `matrix cells ${sameFolder} and ${id} would share the results folder '${folder}' (characters other than letters, digits, '.', '_' and '-' become '_'); change one of the values` });
    } else if (/\.retry-\d+$/.test(folder)) {
      problems.push({ path: ['matrix'], at: 'key', message: `matrix cell ${id} would take the results folder of a retry ('${folder}'); change the value` });
    }
    ids.set(id, id);
    folders.set(folder, id);
  }
  return problems;
}

/** Does a step with this `when:` run in this cell? */
export function stepRunsIn(when: Record<string, Scalar | Scalar[]> | undefined, cell: Cell): boolean {
  if (!when) return true;
  return Object.entries(when).every(([axis, want]) => (Array.isArray(want) ? want : [want]).some((w) => w === cell[axis]));
}

/** A cell in which `when:` leaves no step would boot a machine for nothing: one problem per such cell. */
export function cellsWithoutSteps(steps: readonly unknown[], cells: Cell[], scenario: string): MatrixProblem[] {
  const problems: MatrixProblem[] = [];
  for (const cell of cells) {
    // A 'when' naming an unknown axis is reported on its own; here it does not leave a cell out.
    const known = (when: Record<string, Scalar | Scalar[]> | undefined) => when && Object.fromEntries(Object.entries(when).filter(([axis]) => axis in cell));
    const runs = steps.some((s) => typeof s === 'string' || stepRunsIn(known((s as { when?: Record<string, Scalar | Scalar[]> }).when), cell));
    if (!runs) problems.push({ path: ['steps'], at: 'key', message: `matrix cell ${cellId(scenario, cell)} runs no step: every step's 'when' leaves it out` });
  }
  return problems;
}

/** A stable, readable id for a cell: `name[a=1,b=x]`, or just `name` without a matrix. */
export function cellId(scenario: string, cell: Cell): string {
  const parts = Object.entries(cell).map(([k, v]) => `${k}=${String(v)}`);
  return parts.length > 0 ? `${scenario}[${parts.join(',')}]` : scenario;
}
