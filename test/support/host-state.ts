/** Build a HostState from status JSON fixtures through the real parsers and merger. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../core/paths.js';
import { parseBootcStatus } from '../../harness/state/bootc.js';
import { mergeDeployments } from '../../harness/state/merge.js';
import { parseRpmOstreeStatus } from '../../harness/state/rpm-ostree.js';
import type { HostState } from '../../harness/state/types.js';

export function fixture(dir: string, name: string): string {
  return readFileSync(path.join(repoRoot, 'test', 'fixtures', dir, name), 'utf8');
}

export function hostStateFrom(opts: { rpmOstree?: string | null; bootc?: string | null; kargs?: string[]; osRelease?: Record<string, string>; systemState?: string }): HostState {
  const rpm = opts.rpmOstree ? parseRpmOstreeStatus(opts.rpmOstree) : null;
  const bootc = opts.bootc ? parseBootcStatus(opts.bootc) : null;
  const merged = mergeDeployments(rpm, bootc);
  return {
    capturedAt: new Date(0).toISOString(),
    bootId: 'b1',
    systemState: opts.systemState ?? 'running',
    failedUnits: [],
    kargs: opts.kargs ?? ['root=LABEL=root', 'rw'],
    osRelease: opts.osRelease ?? { ID: 'test', VERSION_ID: '1' },
    rpmOstree: { available: opts.rpmOstree !== null, status: rpm },
    bootc: { available: opts.bootc !== null, status: bootc },
    ...merged,
  };
}
