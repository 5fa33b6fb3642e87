import type { DeploymentView, HostState } from './types.js';

/** One readable difference between two HostStates, for `record` steps and the report timeline. */
export interface StateChange {
  /** e.g. `booted.image`, `kargs`, `os-release.VERSION_ID`, `boot`. */
  field: string;
  before: string | null;
  after: string | null;
  /** For list fields (kargs, packages). */
  added?: string[];
  removed?: string[];
  /** One line for humans: `booted.image: quay.io/a:1 → quay.io/a:2`. */
  text: string;
}

const show = (v: string | null): string => v ?? '(none)';

function listChange(field: string, before: string[], after: string[]): StateChange | null {
  const added = after.filter((x) => !before.includes(x));
  const removed = before.filter((x) => !after.includes(x));
  if (!added.length && !removed.length) return null;
  const parts = [...added.map((x) => `+${x}`), ...removed.map((x) => `-${x}`)];
  return { field, before: before.join(' '), after: after.join(' '), added, removed, text: `${field}: ${parts.join(' ')}` };
}

function valueChange(field: string, before: string | null, after: string | null): StateChange | null {
  if (before === after) return null;
  return { field, before, after, text: `${field}: ${show(before)} → ${show(after)}` };
}

/** What identifies a deployment for a human: its image, else its ostree origin or checksum. */
function label(d: DeploymentView | null): string | null {
  if (!d) return null;
  return d.image ?? d.origin ?? (d.checksum ? `ostree ${d.checksum.slice(0, 12)}` : '?');
}

function deploymentChanges(slot: 'booted' | 'staged' | 'rollback', a: DeploymentView | null, b: DeploymentView | null): StateChange[] {
  if (!a || !b) {
    const c = valueChange(slot, label(a), label(b));
    return c ? [c] : [];
  }
  return [
    valueChange(`${slot}.image`, a.image, b.image),
    valueChange(`${slot}.digest`, a.digest, b.digest),
    valueChange(`${slot}.version`, a.version, b.version),
    // Same image, digest and version but a new commit: layering or a re-deploy. Worth a line.
    a.image === b.image && a.digest === b.digest && a.version === b.version ? valueChange(`${slot}.checksum`, a.checksum, b.checksum) : null,
    listChange(`${slot}.packages`, a.requestedPackages, b.requestedPackages),
    valueChange(`${slot}.incompatible`, a.incompatible === null ? null : String(a.incompatible), b.incompatible === null ? null : String(b.incompatible)),
  ].filter((c): c is StateChange => c !== null);
}

/** The differences that matter in an upgrade-path timeline, in a stable order. */
export function diffStates(before: HostState, after: HostState): StateChange[] {
  const changes: (StateChange | null)[] = [
    before.bootId !== after.bootId ? { field: 'boot', before: before.bootId, after: after.bootId, text: `rebooted (boot ${show(before.bootId)} → ${show(after.bootId)})` } : null,
    ...deploymentChanges('booted', before.booted, after.booted),
    ...deploymentChanges('staged', before.staged, after.staged),
    ...deploymentChanges('rollback', before.rollback, after.rollback),
    listChange('kargs', before.kargs, after.kargs),
    valueChange('os-release.VERSION_ID', before.osRelease.VERSION_ID ?? null, after.osRelease.VERSION_ID ?? null),
    valueChange('os-release.VERSION', before.osRelease.VERSION ?? null, after.osRelease.VERSION ?? null),
    valueChange('systemState', before.systemState, after.systemState),
  ];
  return changes.filter((c): c is StateChange => c !== null);
}
