/**
 * Scenario values the guest tools would read as options: `packages: ["--reboot"]` would make
 * `rpm-ostree install --reboot`. Packages, images and kernel arguments never start with `-`, so
 * such values are refused at load time, where the author sees the position.
 */
import type { StepProblem } from './types.js';

export function optionLikeValues(def: Record<string, unknown>, keys: readonly string[], what: (key: string) => string): StepProblem[] {
  const problems: StepProblem[] = [];
  for (const key of keys) {
    const value = def[key];
    const values = Array.isArray(value) ? value : [value];
    values.forEach((v, i) => {
      if (typeof v === 'string' && v.startsWith('-')) {
        problems.push({
          path: Array.isArray(value) ? [key, i] : [key],
          message: `${what(key)} '${v}' starts with '-': the tool would read it as an option`,
        });
      }
    });
  }
  return problems;
}
