/**
 * Checks results files against the published format (format.ts, the source of the checked-in
 * summary.schema.json and step.schema.json); `merge` and the tests use it on what they read/write.
 */
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { RunSummarySchema, StepResultSchema } from './format.js';

// JSON Schema leaves format checking to the validator; TypeBox needs to be told what date-time is.
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v));

/** Problems as "path: message", empty when the value is valid. */
function problems(schema: TSchema, value: unknown): string[] {
  return [...Value.Errors(schema, value)].map((e) => `${e.path || '/'}: ${e.message}`);
}

export const summaryProblems = (value: unknown): string[] => problems(RunSummarySchema, value);
export const stepLineProblems = (value: unknown): string[] => problems(StepResultSchema, value);
