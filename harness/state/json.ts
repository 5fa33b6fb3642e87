import type { JsonObject } from './types.js';

/** Tolerant accessors: a wrong-typed or missing field reads as null/empty, never as a crash. */

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(o: JsonObject, key: string): string | null {
  const v = o[key];
  return typeof v === 'string' ? v : null;
}

export function num(o: JsonObject, key: string): number | null {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function bool(o: JsonObject, key: string): boolean | null {
  const v = o[key];
  return typeof v === 'boolean' ? v : null;
}

export function strList(o: JsonObject, key: string): string[] {
  const v = o[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function list(o: JsonObject, key: string): unknown[] {
  const v = o[key];
  return Array.isArray(v) ? v : [];
}

export function obj(o: JsonObject, key: string): JsonObject | null {
  const v = o[key];
  return isObject(v) ? v : null;
}

/** JSON.parse with a message that says what was being parsed and shows the start of the text. */
export function parseJsonObject(text: string, what: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    const snippet = text.trim().slice(0, 120).replace(/\s+/g, ' ');
    throw new StateParseError(`${what} is not valid JSON (${e instanceof Error ? e.message : String(e)}): ${JSON.stringify(snippet)}`);
  }
  if (!isObject(parsed)) throw new StateParseError(`${what} is not a JSON object`);
  return parsed;
}

/** Guest tool output that cannot be understood. */
export class StateParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateParseError';
  }
}
