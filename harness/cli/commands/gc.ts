/**
 * `gc`: reap machines a crashed run left behind — by bootpath's own pidfiles, and only processes
 * whose command line proves they are that machine (vm/machine-identity.ts), never by name — then
 * its keys.
 */
import { removeOrphanedRunSecrets } from '../../../vm/run-secrets.js';
import { reapOrphans } from '../../../vm/reaper.js';
import type { CliIo } from '../io.js';

export async function gcCommand(opts: { json: boolean }, io: CliIo): Promise<number> {
  const report = await reapOrphans();
  // After the reaping: a crashed run's machines are gone, so nothing needs its keys any more.
  const secrets = await removeOrphanedRunSecrets();
  if (opts.json) {
    io.stdout(JSON.stringify({ ...report, runSecrets: secrets }, null, 2) + '\n');
    return 0;
  }
  for (const k of report.killed) io.stdout(`killed orphaned machine pid ${k.pid} (${k.runDir})\n`);
  for (const s of report.removedStale) io.stdout(`removed stale pidfile ${s.pidfile}: ${s.reason}\n`);
  for (const s of report.skipped) io.stdout(`left ${s.pidfile}: ${s.reason}\n`);
  for (const d of report.libvirt?.destroyed ?? []) io.stdout(`destroyed orphaned libvirt domain ${d.domain} on ${d.uri} (${d.runDir})\n`);
  for (const s of report.libvirt?.skipped ?? []) io.stdout(`left libvirt domain ${s.domain} on ${s.uri}: ${s.reason}\n`);
  for (const d of secrets.removed) io.stdout(`removed keys of an ended run: ${d}\n`);
  io.stdout(`gc: ${report.killed.length} machine(s) reaped, ${report.removedStale.length} stale pidfile(s) removed, ${secrets.removed.length} run key dir(s) removed\n`);
  return 0;
}
