/**
 * `${{ matrix.x }}` and `${{ vars.y }}`: data substitution into typed fields, never shell.
 * A field that is exactly one expression takes the value with its type (a number stays a number);
 * an expression inside a longer string is substituted as text.
 */
import type { DataPath } from '../../core/yaml-source.js';

export type Scalar = string | number | boolean;
export interface InterpolationContext {
  matrix: Record<string, Scalar>;
  vars: Record<string, Scalar>;
}

export interface Reference {
  path: DataPath;
  namespace: 'matrix' | 'vars';
  name: string;
}

export interface ReferenceProblem {
  path: DataPath;
  message: string;
}

const EXPRESSION = /\$\{\{\s*(.*?)\s*\}\}/g;
const WHOLE = /^\$\{\{\s*(.*?)\s*\}\}$/;
const NAMED = /^(matrix|vars)\.([A-Za-z_][A-Za-z0-9_-]*)$/;

/** Every reference in `value`, with syntax problems (unknown namespaces, empty expressions). */
export function findReferences(value: unknown, path: DataPath = []): { refs: Reference[]; problems: ReferenceProblem[] } {
  const refs: Reference[] = [];
  const problems: ReferenceProblem[] = [];
  const visit = (v: unknown, p: DataPath): void => {
    if (typeof v === 'string') {
      const unclosed = v.indexOf('${{');
      for (const m of v.matchAll(EXPRESSION)) {
        const named = NAMED.exec(m[1]!);
        if (!named) {
          problems.push({ path: p, message: `invalid expression '${m[0]}': expected \${{ matrix.NAME }} or \${{ vars.NAME }}` });
        } else {
          refs.push({ path: p, namespace: named[1] as 'matrix' | 'vars', name: named[2]! });
        }
      }
      if (unclosed >= 0 && !v.slice(unclosed).includes('}}')) {
        problems.push({ path: p, message: `unclosed expression in ${JSON.stringify(v)}: expected '}}'` });
      }
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => visit(item, [...p, i]));
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, item] of Object.entries(v)) visit(item, [...p, k]);
    }
  };
  visit(value, path);
  return { refs, problems };
}

/** A deep copy of `value` with every expression substituted. References must have been checked. */
export function interpolate<T>(value: T, ctx: InterpolationContext): T {
  const lookup = (expr: string): Scalar => {
    const named = NAMED.exec(expr);
    if (!named) throw new Error(`invalid expression ${expr}`);
    const table = named[1] === 'matrix' ? ctx.matrix : ctx.vars;
    const found = table[named[2]!];
    if (found === undefined) throw new Error(`undefined ${expr}`);
    return found;
  };
  const visit = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const whole = WHOLE.exec(v);
      if (whole && !whole[1]!.includes('}}')) return lookup(whole[1]!);
      return v.replace(EXPRESSION, (_, expr: string) => String(lookup(expr)));
    }
    if (Array.isArray(v)) return v.map(visit);
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, visit(item)]));
    return v;
  };
  return visit(value) as T;
}
