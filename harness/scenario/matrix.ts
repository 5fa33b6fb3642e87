/**
 * Matrix expansion with CI-style semantics: the cross product of the named axes, minus `exclude`
 * entries (partial matches), plus `include` entries (complete combinations).
 */
import type { DataPath } from '../../core/yaml-source.js';
import type { Scalar } from './interpolate.js';

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
    const seen = new Set<string>();
    values(axis).forEach((v, i) => {
      const key = JSON.stringify(v);
      if (seen.has(key)) problems.push({ path: ['matrix', axis, i], at: 'value', message: `duplicate value ${key} in axis '${axis}'` });
      seen.add(key);
    });
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
    if (cells.some((cell) => axes.every((a) => cell[a] === entry[a]))) {
      problems.push({ path: ['matrix', 'include', i], at: 'value', message: 'include repeats a combination that is already in the matrix' });
      return;
    }
    cells.push({ ...entry });
  });

  if (cells.length === 0 && problems.length === 0) {
    problems.push({ path: ['matrix'], at: 'value', message: 'the matrix is empty: every combination was excluded (or no axis has values)' });
  }
  return { axes, cells, problems };
}

/** A stable, readable id for a cell: `name[a=1,b=x]`, or just `name` without a matrix. */
export function cellId(scenario: string, cell: Cell): string {
  const parts = Object.entries(cell).map(([k, v]) => `${k}=${String(v)}`);
  return parts.length > 0 ? `${scenario}[${parts.join(',')}]` : scenario;
}
