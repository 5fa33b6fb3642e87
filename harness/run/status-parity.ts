import type { HostState } from '../state/types.js';

/**
 * Where bootc status and rpm-ostree status disagree (question Q2). Agreement needs both tools to
 * have answered: a host where one of them is missing or failed cannot "agree".
 */
export function statusDisagreements(state: HostState): string[] {
  const missing: string[] = [];
  for (const [name, tool] of [['rpm-ostree', state.rpmOstree], ['bootc', state.bootc]] as const) {
    if (!tool.available) missing.push(`${name} is not available`);
    else if (!tool.status) missing.push(`${name} status failed${tool.error ? `: ${tool.error}` : ''}`);
  }
  return missing.length > 0 ? missing : state.disagreements;
}
