/**
 * `gc`: reap machines a crashed run left behind, by each backend's own records and only processes
 * whose command line proves they are that machine (vm/machine-identity.ts), never by name — then
 * its keys.
 */
import { reapAllOrphans } from '../../../vm/backends.js';
import { removeOrphanedRunSecrets } from '../../../vm/run-secrets.js';
import type { CliIo } from '../io.js';

export async function gcCommand(opts: { json: boolean }, io: CliIo): Promise<number> {
  const reaps = await reapAllOrphans();
  // After the reaping: a crashed run's machines are gone, so nothing needs its keys any more.
  const secrets = await removeOrphanedRunSecrets();
  if (opts.json) {
    io.stdout(JSON.stringify({ ...Object.fromEntries(reaps.map((r) => [r.backend, r.reap.report])), runSecrets: secrets }, null, 2) + '\n');
    return 0;
  }
  for (const { reap } of reaps) for (const line of [...reap.reaped, ...reap.removed, ...reap.skipped]) io.stdout(`${line}\n`);
  for (const d of secrets.removed) io.stdout(`removed keys of an ended run: ${d}\n`);
  const count = (key: 'reaped' | 'removed'): number => reaps.reduce((n, r) => n + r.reap[key].length, 0);
  io.stdout(`gc: ${count('reaped')} machine(s) reaped, ${count('removed')} stale record(s) removed, ${secrets.removed.length} run key dir(s) removed\n`);
  return 0;
}
