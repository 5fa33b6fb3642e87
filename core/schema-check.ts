/**
 * Validates a plain value against a TypeBox (JSON Schema) definition and reports problems by data
 * path, in words a scenario author understands ("unknown key 'imgae' (did you mean 'image'?)").
 *
 * Why not a generic JSON Schema validator: their messages for unions ("must match exactly one schema
 * in oneOf") tell an author nothing. This walker knows two annotations from our schemas:
 *   x-steps          a union of step kinds chosen by which action key is present;
 *   x-discriminator  a union of objects chosen by the literal value of one property.
 *
 * Strings containing `${{` are interpolations resolved later, per matrix cell; in the first
 * (`deferInterpolation`) pass they satisfy any scalar type, and the cell pass re-checks them.
 */
import type { TSchema } from '@sinclair/typebox';
import type { DataPath } from './yaml-source.js';
import { didYouMean } from './did-you-mean.js';
import { durationProblem, sizeProblem } from './units.js';

export interface SchemaProblem {
  path: DataPath;
  /** Point at the key itself (unknown keys) rather than its value. */
  at: 'key' | 'value';
  message: string;
}

export interface CheckOptions {
  deferInterpolation: boolean;
}

type Json = Record<string, unknown>;

export function checkValue(schema: TSchema, value: unknown, options: CheckOptions): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const foreign = foreignFileProblem(schema as Json, value);
  if (foreign) return [foreign];
  walk(schema as Json, value, [], problems, options);
  return problems;
}

/**
 * A file whose top level is a mapping with not one key of the expected ones is some other file
 * (a password file parses as a mapping of its lines): say so once, without echoing its keys, which
 * are that file's content.
 */
function foreignFileProblem(schema: Json, value: unknown): SchemaProblem | null {
  if (schema.type !== 'object' || schema.additionalProperties !== false || !isPlainObject(value)) return null;
  const known = Object.keys((schema.properties ?? {}) as object);
  const keys = Object.keys(value);
  if (keys.length === 0 || keys.some((k) => known.includes(k))) return null;
  return {
    path: [],
    at: 'value',
    message: `this is not a file of the expected kind: none of its ${keys.length} top-level key${keys.length === 1 ? ' is' : 's is'} one of ${known.join(', ')} (its content is not shown)`,
  };
}

export function isInterpolated(value: unknown): value is string {
  return typeof value === 'string' && value.includes('${{');
}

function walk(schema: Json, value: unknown, path: DataPath, out: SchemaProblem[], opt: CheckOptions): void {
  if (opt.deferInterpolation && isInterpolated(value) && acceptsScalar(schema)) return;
  const format = schema['x-format'];
  if (format === 'duration' || format === 'size') {
    // Syntax first; the bounds apply to a value that is a duration or size at all.
    const before = out.length;
    walkKind(schema, value, path, out, opt);
    if (out.length === before && (typeof value === 'string' || typeof value === 'number')) {
      const problem = format === 'duration' ? durationProblem(value) : sizeProblem(value, path[path.length - 1]);
      if (problem) out.push({ path, at: 'value', message: problem });
    }
    return;
  }
  walkKind(schema, value, path, out, opt);
}

function walkKind(schema: Json, value: unknown, path: DataPath, out: SchemaProblem[], opt: CheckOptions): void {

  if (schema['x-steps']) return walkStep(schema, value, path, out, opt);
  if (Array.isArray(schema.anyOf)) return walkUnion(schema, value, path, out, opt);
  if ('const' in schema) {
    if (value !== schema.const) out.push({ path, at: 'value', message: `expected ${JSON.stringify(schema.const)}, got ${describe(value)}` });
    return;
  }
  switch (schema.type) {
    case 'object':
      return walkObject(schema, value, path, out, opt);
    case 'array':
      return walkArray(schema, value, path, out, opt);
    case 'string':
      return walkString(schema, value, path, out);
    case 'integer':
    case 'number':
      return walkNumber(schema, value, path, out);
    case 'boolean':
      if (typeof value !== 'boolean') out.push({ path, at: 'value', message: `expected true or false, got ${describe(value)}` });
      return;
    case 'null':
      if (value !== null) out.push({ path, at: 'value', message: `expected null, got ${describe(value)}` });
      return;
    default:
      return;
  }
}

function walkObject(schema: Json, value: unknown, path: DataPath, out: SchemaProblem[], opt: CheckOptions): void {
  if (!isPlainObject(value)) {
    out.push({ path, at: 'value', message: `expected a mapping${expectedKeysHint(schema)}, got ${describe(value)}` });
    return;
  }
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  const patternProperties = (schema.patternProperties ?? {}) as Record<string, Json>;
  const additional = schema.additionalProperties as Json | boolean | undefined;
  const known = Object.keys(properties);

  for (const [key, child] of Object.entries(value)) {
    const childPath = [...path, key];
    if (key in properties) {
      walk(properties[key]!, child, childPath, out, opt);
      continue;
    }
    const patterns = Object.entries(patternProperties);
    if (patterns.length > 0) {
      const match = patterns.find(([re]) => new RegExp(re, 'u').test(key));
      if (match) {
        walk(match[1], child, childPath, out, opt);
      } else {
        out.push({ path: childPath, at: 'key', message: `invalid key '${shownKey(key)}': must match ${describePattern(patterns.map(([re]) => re))}` });
      }
      continue;
    }
    if (additional && typeof additional === 'object') {
      walk(additional, child, childPath, out, opt);
      continue;
    }
    if (additional === false) {
      const hint = didYouMean(key, known);
      out.push({
        path: childPath,
        at: 'key',
        message: `unknown key '${shownKey(key)}'${hint ? ` (did you mean '${hint}'?)` : ''}; expected one of: ${known.join(', ')}`,
      });
    }
  }
  for (const key of (schema.required ?? []) as string[]) {
    if (!(key in value)) out.push({ path, at: 'value', message: `missing required key '${key}'` });
  }
  const min = schema.minProperties as number | undefined;
  if (min !== undefined && Object.keys(value).length < min) {
    const keys = Object.keys((schema.properties ?? {}) as object);
    out.push({ path, at: 'value', message: `must not be empty${keys.length ? `; expected some of: ${keys.join(', ')}` : ''}` });
  }
}

function walkArray(schema: Json, value: unknown, path: DataPath, out: SchemaProblem[], opt: CheckOptions): void {
  if (!Array.isArray(value)) {
    out.push({ path, at: 'value', message: `expected a list, got ${describe(value)}` });
    return;
  }
  const min = schema.minItems as number | undefined;
  if (min !== undefined && value.length < min) {
    out.push({ path, at: 'value', message: min === 1 ? 'must not be empty' : `needs at least ${min} items` });
  }
  const items = schema.items as Json | undefined;
  if (items) value.forEach((item, i) => walk(items, item, [...path, i], out, opt));
}

function walkString(schema: Json, value: unknown, path: DataPath, out: SchemaProblem[]): void {
  if (typeof value !== 'string') {
    out.push({ path, at: 'value', message: `expected a string, got ${describe(value)}` });
    return;
  }
  const minLength = schema.minLength as number | undefined;
  if (minLength !== undefined && value.length < minLength) {
    out.push({ path, at: 'value', message: 'must not be empty' });
    return;
  }
  if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) {
    out.push({ path, at: 'value', message: `invalid value ${JSON.stringify(value)}: ${patternDescription(schema)}` });
  }
  if (schema['x-format'] === 'regex') {
    try {
      new RegExp(value, 'u');
    } catch (err) {
      out.push({ path, at: 'value', message: `invalid regular expression ${JSON.stringify(value)}: ${(err as Error).message}` });
    }
  }
}

function walkNumber(schema: Json, value: unknown, path: DataPath, out: SchemaProblem[]): void {
  const integer = schema.type === 'integer';
  if (typeof value !== 'number' || Number.isNaN(value) || (integer && !Number.isInteger(value))) {
    out.push({ path, at: 'value', message: `expected ${integer ? 'a whole number' : 'a number'}, got ${describe(value)}` });
    return;
  }
  const { minimum, maximum } = schema as { minimum?: number; maximum?: number };
  if (minimum !== undefined && value < minimum) out.push({ path, at: 'value', message: `must be at least ${minimum}, got ${value}` });
  if (maximum !== undefined && value > maximum) out.push({ path, at: 'value', message: `must be at most ${maximum}, got ${value}` });
}

/**
 * The action keys of `value` that select a step kind. A key that another present kind declares as
 * one of its own properties is a modifier there, not a second action: `record` on any step,
 * `reboot: true` on rpm-ostree steps.
 */
export function chosenActions(kinds: readonly object[], value: object): string[] {
  const present = (kinds as readonly Json[]).filter((m) => typeof m['x-action'] === 'string' && (m['x-action'] as string) in value);
  const ownKeys = (m: Json): string[] =>
    Array.isArray(m.anyOf) ? (m.anyOf as Json[]).flatMap(ownKeys) : Object.keys((m.properties as Record<string, unknown> | undefined) ?? {});
  const keys = present.map((m) => m['x-action'] as string);
  return keys.filter((k, i) => !present.some((other, j) => j !== i && ownKeys(other).includes(k)));
}

/** Steps: the action key present picks the step kind. */
function walkStep(schema: Json, value: unknown, path: DataPath, out: SchemaProblem[], opt: CheckOptions): void {
  const members = schema.anyOf as Json[];
  const actions = members.filter((m) => typeof m['x-action'] === 'string');
  const actionKeys = actions.map((m) => m['x-action'] as string);
  const bare = members.filter((m) => 'const' in m).map((m) => m.const as string);
  if (typeof value === 'string') {
    if (bare.includes(value)) return;
    const hint = didYouMean(value, [...bare, ...actionKeys]);
    out.push({
      path,
      at: 'value',
      message: `unknown step '${value}'${hint ? ` (did you mean '${hint}'?)` : ''}; a step is a mapping with one of: ${actionKeys.join(', ')}`,
    });
    return;
  }
  if (!isPlainObject(value)) {
    out.push({ path, at: 'value', message: `expected a step (a mapping with one of: ${actionKeys.join(', ')}), got ${describe(value)}` });
    return;
  }
  const chosen = chosenActions(actions, value);
  if (chosen.length === 0) {
    const unknown = Object.keys(value);
    const hint = unknown.map((k) => didYouMean(k, actionKeys)).find(Boolean);
    out.push({
      path,
      at: 'value',
      message: `a step needs one action key: ${actionKeys.join(', ')}${hint ? ` (did you mean '${hint}'?)` : ''}; found: ${unknown.join(', ') || 'nothing'}`,
    });
    return;
  }
  if (chosen.length > 1) {
    out.push({ path: [...path, chosen[1]!], at: 'key', message: `a step has exactly one action; found '${chosen[0]}' and '${chosen[1]}'` });
    return;
  }
  walk(actions[actionKeys.indexOf(chosen[0]!)]!, value, path, out, opt);
}

function walkUnion(schema: Json, value: unknown, path: DataPath, out: SchemaProblem[], opt: CheckOptions): void {
  const members = schema.anyOf as Json[];
  const discriminator = schema['x-discriminator'] as string | undefined;
  if (discriminator) {
    if (!isPlainObject(value)) {
      out.push({ path, at: 'value', message: `expected a mapping, got ${describe(value)}` });
      return;
    }
    const options = members.map((m) => ((m.properties as Record<string, Json>)[discriminator]!.const as string));
    const chosen = value[discriminator];
    if (opt.deferInterpolation && isInterpolated(chosen)) return;
    const index = options.indexOf(chosen as string);
    if (index < 0) {
      const hint = typeof chosen === 'string' ? didYouMean(chosen, options) : undefined;
      out.push({
        path: [...path, discriminator],
        at: 'value',
        message: `unknown ${discriminator} operation ${typeof chosen === 'string' ? `'${chosen}'` : describe(chosen)}${hint ? ` (did you mean '${hint}'?)` : ''}; expected one of: ${options.join(', ')}`,
      });
      return;
    }
    walk(members[index]!, value, path, out, opt);
    return;
  }
  // Enumerations of literals: one message listing the choices.
  if (members.every((m) => 'const' in m)) {
    const options = members.map((m) => m.const);
    if (!options.includes(value as never)) {
      const hint = typeof value === 'string' ? didYouMean(value, options.map(String)) : undefined;
      out.push({
        path,
        at: 'value',
        message: `invalid value ${typeof value === 'string' ? `'${value}'` : describe(value)}${hint ? ` (did you mean '${hint}'?)` : ''}; expected one of: ${options.join(', ')}`,
      });
    }
    return;
  }
  // General union: the first member that accepts the value wins; otherwise report against the
  // member whose JSON type matches the value, which is what the author most likely meant.
  const attempts = members.map((m) => {
    const problems: SchemaProblem[] = [];
    walk(m, value, path, problems, opt);
    return { m, problems };
  });
  if (attempts.some((a) => a.problems.length === 0)) return;
  const sameType = attempts.find((a) => typeMatches(a.m, value));
  if (sameType) {
    out.push(...sameType.problems);
    return;
  }
  const description = typeof schema.description === 'string' ? ` (${schema.description})` : '';
  out.push({ path, at: 'value', message: `expected ${members.map(typeName).join(' or ')}${description}, got ${describe(value)}` });
}

function acceptsScalar(schema: Json): boolean {
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Json[]).some(acceptsScalar);
  return 'const' in schema || ['string', 'number', 'integer', 'boolean'].includes(schema.type as string);
}

function typeMatches(schema: Json, value: unknown): boolean {
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Json[]).some((m) => typeMatches(m, value));
  if ('const' in schema) return typeof schema.const === typeof value;
  switch (schema.type) {
    case 'object':
      return isPlainObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    default:
      return false;
  }
}

function typeName(schema: Json): string {
  if ('const' in schema) return JSON.stringify(schema.const);
  switch (schema.type) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'string':
      return schema['x-format'] === 'duration' ? 'a duration string like "5m"' : schema['x-format'] === 'size' ? 'a size string like "2GiB"' : 'a string';
    case 'integer':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true/false';
    case 'null':
      return 'null';
    default:
      return 'a value';
  }
}

function patternDescription(schema: Json): string {
  switch (schema['x-format']) {
    case 'duration':
      return 'expected a duration like "90s", "5m", "1h" or "500ms"';
    case 'size':
      return 'expected a size like "2GiB" or "512MiB"';
    default: {
      const words = schema['x-pattern-description'] ?? schema.description;
      return typeof words === 'string' ? `expected ${words}` : `must match /${schema.pattern as string}/`;
    }
  }
}

function describePattern(patterns: string[]): string {
  return patterns.map((p) => `/${p}/`).join(' or ');
}

function expectedKeysHint(schema: Json): string {
  const keys = Object.keys((schema.properties ?? {}) as object);
  return keys.length > 0 && keys.length <= 12 ? ` with keys ${keys.join(', ')}` : '';
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A key as messages show it: one line, at most 40 characters. */
function shownKey(key: string): string {
  // eslint-disable-next-line no-control-regex
  const one = key.replace(/[\u0000-\u001f\u007f]/g, '?');
  return one.length > 40 ? `${one.slice(0, 37)}...` : one;
}

export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 37) + '...' : value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  return typeof value;
}
