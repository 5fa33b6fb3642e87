import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../../core/atomic.js';

/**
 * One small JSON file per running libvirt machine under <stateDir>/libvirt/. It does not decide
 * anything about a domain (the domain's own `<metadata>` does, see reaper.ts); it tells `gc` which
 * libvirt connection URIs bootpath used, so orphan reaping asks only those (and none at all when
 * the libvirt backend was never used).
 */
export interface DomainRecord {
  uri: string;
  domain: string;
  runId: string;
  machine: string;
  runDir: string;
  ownerPid: number;
  ownerStartTime: number;
  createdAt?: string;
}

export function domainRecordsDir(stateDir: string): string {
  return path.join(stateDir, 'libvirt');
}

function recordPath(stateDir: string, domain: string): string {
  return path.join(domainRecordsDir(stateDir), `${domain}.json`);
}

export async function writeDomainRecord(stateDir: string, rec: DomainRecord): Promise<string> {
  const file = recordPath(stateDir, rec.domain);
  await writeJsonAtomic(file, { ...rec, createdAt: rec.createdAt ?? new Date().toISOString() });
  return file;
}

export async function removeDomainRecord(stateDir: string, domain: string): Promise<void> {
  await fs.rm(recordPath(stateDir, domain), { force: true });
}

function isDomainRecord(v: unknown): v is DomainRecord {
  if (!v || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  return typeof r['uri'] === 'string' && typeof r['domain'] === 'string' && typeof r['ownerPid'] === 'number' && typeof r['ownerStartTime'] === 'number';
}

/** Every readable record, with its file. Unreadable files are skipped (the reaper reports them). */
export async function readDomainRecords(stateDir: string): Promise<{ file: string; record: DomainRecord | null }[]> {
  const dir = domainRecordsDir(stateDir);
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: { file: string; record: DomainRecord | null }[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const parsed: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
      out.push({ file, record: isDomainRecord(parsed) ? parsed : null });
    } catch {
      out.push({ file, record: null });
    }
  }
  return out;
}
