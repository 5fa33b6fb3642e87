import { promises as fs } from 'node:fs';
import { errorMessage } from '../../core/errors.js';
import { stateDir as defaultStateDir } from '../../core/paths.js';
import { whichBinary } from '../exec.js';
import { runDirProblem } from '../machine-identity.js';
import { isSameProcessAlive } from '../proc.js';
import { BOOTPATH_METADATA_NS, parseBootpathMetadata, type BootpathDomainMetadata } from './domain-xml.js';
import { readDomainRecords } from './records.js';
import { describeFailure, isNoDomainError, Virsh } from './virsh.js';

/**
 * Orphaned libvirt domains: a bootpath run that was SIGKILLed cannot destroy its transient domains,
 * and libvirt keeps them running. A domain is bootpath's when its `<metadata>` carries bootpath's
 * namespace (never by name pattern alone), and an orphan when the owner process recorded there
 * (pid + start time) is gone. Other runs' live domains are left alone.
 */

export interface LibvirtReapReport {
  destroyed: { uri: string; domain: string; runDir: string }[];
  skipped: { uri: string; domain: string; reason: string }[];
}

/** Decide one domain from its metadata (pure apart from the liveness check, which is injectable). */
export function isOrphan(meta: BootpathDomainMetadata | null, alive: (pid: number, startTime: number) => boolean = isSameProcessAlive): boolean {
  return meta !== null && !alive(meta.owner.pid, meta.owner.startTime);
}

/** `driver[+transport]://[host]/path[?query]`, printable ASCII only (what bootpath itself records). */
export function isPlainLibvirtUri(uri: string): boolean {
  return uri.length <= 512 && /^[a-z][a-z0-9]*(\+[a-z0-9]+)?:\/\/[\x21-\x7e]*$/.test(uri);
}

/**
 * Destroy orphaned bootpath domains on `uris` (default: the URIs named in <stateDir>/libvirt/
 * records; none when there are none, so runs that never used libvirt never call virsh). Records
 * whose domain is gone, or whose owner is gone, are removed.
 */
export async function reapLibvirtOrphans(opts: { stateDir?: string; uris?: string[]; virshBinary?: string } = {}): Promise<LibvirtReapReport> {
  const dir = opts.stateDir ?? defaultStateDir();
  const report: LibvirtReapReport = { destroyed: [], skipped: [] };
  const records = await readDomainRecords(dir);
  const uris = new Set(opts.uris ?? []);
  // A record only names where to look; one with a URI that is not a plain libvirt URI is not followed.
  for (const r of records) if (r.record && isPlainLibvirtUri(r.record.uri)) uris.add(r.record.uri);
  if (uris.size === 0) return report;
  if (!opts.virshBinary && !(await whichBinary('virsh'))) {
    for (const uri of uris) report.skipped.push({ uri, domain: '*', reason: 'virsh is not installed' });
    return report;
  }

  const gone = new Set<string>(); // `${uri} ${domain}` of domains that do not run (any more)
  for (const uri of uris) {
    const virsh = new Virsh(uri, opts.virshBinary);
    let names: string[];
    try {
      names = await virsh.listDomains();
    } catch (err) {
      report.skipped.push({ uri, domain: '*', reason: `cannot list domains: ${errorMessage(err)}` });
      continue;
    }
    for (const r of records) if (r.record?.uri === uri && !names.includes(r.record.domain)) gone.add(`${uri} ${r.record.domain}`);
    for (const domain of names) {
      const res = await virsh.run(['metadata', domain, BOOTPATH_METADATA_NS], 15_000);
      if (res.code !== 0) {
        // No bootpath metadata (libvirt says "metadata not found"): not ours.
        if (!isNoDomainError(res.stderr) && !/metadata not found|not found/i.test(res.stderr)) {
          report.skipped.push({ uri, domain, reason: `cannot read metadata: ${describeFailure(res)}` });
        }
        continue;
      }
      const meta = parseBootpathMetadata(res.stdout);
      if (!meta) continue; // not a bootpath domain
      const dirProblem = runDirProblem(meta.runDir);
      if (dirProblem !== null) {
        report.skipped.push({ uri, domain, reason: `bootpath metadata does not name a valid run dir (${dirProblem}); not destroyed` });
        continue;
      }
      if (!isOrphan(meta)) {
        report.skipped.push({ uri, domain, reason: `owner process ${meta.owner.pid} is still running` });
        continue;
      }
      const d = await virsh.run(['destroy', domain], 60_000);
      if (d.code === 0 || isNoDomainError(d.stderr)) {
        report.destroyed.push({ uri, domain, runDir: meta.runDir });
        gone.add(`${uri} ${domain}`);
      } else {
        report.skipped.push({ uri, domain, reason: `virsh destroy failed: ${describeFailure(d)}` });
      }
    }
  }
  for (const r of records) {
    const dead = r.record && (gone.has(`${r.record.uri} ${r.record.domain}`) || !isSameProcessAlive(r.record.ownerPid, r.record.ownerStartTime));
    if (!r.record || dead) await fs.rm(r.file, { force: true });
  }
  return report;
}
