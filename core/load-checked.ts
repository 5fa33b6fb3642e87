/**
 * Read a YAML file and check it against a schema: the one path every user file takes, so every
 * file gets the same located messages.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { InputError, type LocatedProblem } from './errors.js';
import { checkValue, type SchemaProblem } from './schema-check.js';
import { readYamlFile, type YamlSource } from './yaml-source.js';

export interface Checked<T> {
  source: YamlSource;
  value: T;
}

export function locateProblems(source: YamlSource, problems: SchemaProblem[], suffix = ''): LocatedProblem[] {
  return problems.map((p) => ({ ...source.locate(p.path, p.at), message: p.message + suffix }));
}

export function sortProblems(problems: LocatedProblem[]): LocatedProblem[] {
  return [...problems].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
}

/** Parse and validate; throws InputError listing every problem when the file is invalid. */
export async function loadChecked<S extends TSchema>(
  file: string,
  displayName: string,
  schema: S,
  opts: { deferInterpolation?: boolean } = {},
): Promise<Checked<Static<S>>> {
  const source = await readYamlFile(file, displayName);
  if (source.value === null || source.value === undefined) {
    throw new InputError(`${displayName}: empty file`, [{ file: displayName, line: 1, column: 1, message: 'the file is empty' }]);
  }
  const problems = checkValue(schema, source.value, { deferInterpolation: opts.deferInterpolation ?? false });
  if (problems.length > 0) throw new InputError(`${displayName}: invalid`, sortProblems(locateProblems(source, problems)));
  return { source, value: source.value as Static<S> };
}
