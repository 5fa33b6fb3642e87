/** Compact views of a HostState for findings, timelines and failure messages. */
import type { DeploymentSummary, StateSummary } from '../results/model.js';
import type { ObservableDef } from '../scenario/schema.js';
import type { DeploymentView, HostState } from '../state/types.js';
import { statusDisagreements } from './status-parity.js';

export function summarizeDeployment(d: DeploymentView | null): DeploymentSummary | null {
  if (!d) return null;
  return {
    image: d.image,
    digest: d.digest,
    version: d.version,
    checksum: d.checksum,
    packages: d.requestedPackages,
    incompatible: d.incompatible,
  };
}

export function summarizeState(s: HostState): StateSummary {
  return {
    bootId: s.bootId,
    booted: summarizeDeployment(s.booted),
    staged: summarizeDeployment(s.staged),
    rollback: summarizeDeployment(s.rollback),
    kargs: s.kargs,
    osVersion: s.osRelease.VERSION ?? s.osRelease.VERSION_ID ?? null,
    systemState: s.systemState,
    disagreements: statusDisagreements(s),
  };
}

/** The parts of the state a `record` step asked to observe. */
export function observe(s: HostState, what: ObservableDef[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of what) {
    switch (key) {
      case 'booted':
      case 'staged':
      case 'rollback':
        out[key] = summarizeDeployment(s[key]);
        break;
      case 'kargs':
        out.kargs = s.kargs;
        break;
      case 'os-release':
        out['os-release'] = { ID: s.osRelease.ID ?? null, VERSION_ID: s.osRelease.VERSION_ID ?? null, VERSION: s.osRelease.VERSION ?? null };
        break;
      case 'packages':
        out.packages = { booted: s.booted?.requestedPackages ?? [], staged: s.staged?.requestedPackages ?? null, rollback: s.rollback?.requestedPackages ?? null };
        break;
      case 'bootc':
        out.bootc = s.bootc.available
          ? { type: s.bootc.status?.status.type ?? null, bootedImage: s.booted?.bootcImage ?? null, incompatible: s.booted?.incompatible ?? null, error: s.bootc.error ?? null }
          : { available: false };
        break;
      case 'rpm-ostree':
        out['rpm-ostree'] = s.rpmOstree.available
          ? { bootedImage: s.booted?.rpmOstreeImage ?? null, stagedImage: s.staged?.rpmOstreeImage ?? null, error: s.rpmOstree.error ?? null }
          : { available: false };
        break;
      case 'status-agree': {
        const d = statusDisagreements(s);
        out['status-agree'] = d.length === 0 ? true : d;
        break;
      }
    }
  }
  return out;
}
