/** `gc`: reap machines a crashed run left behind, by each backend's own records (never by name). */
import { reapAllOrphans } from '../../../vm/backends.js';
import type { CliIo } from '../io.js';

export async function gcCommand(opts: { json: boolean }, io: CliIo): Promise<number> {
  const reaps = await reapAllOrphans();
  if (opts.json) {
    io.stdout(JSON.stringify(Object.fromEntries(reaps.map((r) => [r.backend, r.reap.report])), null, 2) + '\n');
    return 0;
  }
  for (const { reap } of reaps) for (const line of [...reap.reaped, ...reap.removed, ...reap.skipped]) io.stdout(`${line}\n`);
  const count = (key: 'reaped' | 'removed'): number => reaps.reduce((n, r) => n + r.reap[key].length, 0);
  io.stdout(`gc: ${count('reaped')} machine(s) reaped, ${count('removed')} stale record(s) removed\n`);
  return 0;
}
