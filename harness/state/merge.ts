import { digestOfImageName, formatOstreeImageReference, parseOstreeImageReference } from './image-reference.js';
import { hasClientSideChanges } from './rpm-ostree.js';
import type { BootcBootEntry, BootcHost, DeploymentView, RpmOstreeDeployment, RpmOstreeStatus } from './types.js';

export interface MergedDeployments {
  booted: DeploymentView | null;
  staged: DeploymentView | null;
  rollback: DeploymentView | null;
  disagreements: string[];
}

type Slot = 'booted' | 'staged' | 'rollback';

function epochToIso(seconds: number | null): string | null {
  return seconds === null ? null : new Date(seconds * 1000).toISOString();
}

function fromRpmOstree(d: RpmOstreeDeployment): DeploymentView {
  const ref = d.containerImageReference ? parseOstreeImageReference(d.containerImageReference) : null;
  const image = ref?.image ?? null;
  const digest = d.containerImageReferenceDigest ?? (image ? digestOfImageName(image) : null);
  return {
    image,
    imageReference: d.containerImageReference,
    transport: ref?.transport ?? null,
    digest,
    version: d.version,
    timestamp: epochToIso(d.timestamp),
    checksum: d.checksum,
    baseChecksum: d.baseChecksum ?? d.checksum,
    stateroot: d.osname || null,
    requestedPackages: d.requestedPackages,
    layered: hasClientSideChanges(d),
    incompatible: null,
    pinned: d.pinned,
    source: ['rpm-ostree'],
    rpmOstreeImage: image,
    bootcImage: null,
    rpmOstreeDigest: digest,
    bootcDigest: null,
    origin: d.origin,
  };
}

function bootcSignature(e: BootcBootEntry): Parameters<typeof formatOstreeImageReference>[2] {
  const s = e.image?.image.signature;
  if (!s) return null;
  return s.kind === 'unknown' ? null : s;
}

function fromBootc(e: BootcBootEntry): DeploymentView {
  const img = e.image;
  const checksum = e.ostree?.checksum ?? null;
  return {
    image: img?.image.image ?? null,
    imageReference: img ? formatOstreeImageReference(img.image.image, img.image.transport, bootcSignature(e)) : null,
    transport: img?.image.transport ?? null,
    digest: img?.imageDigest ?? null,
    version: img?.version ?? null,
    timestamp: img?.timestamp ?? null,
    checksum,
    // bootc does not know the base of a layered deployment.
    baseChecksum: e.incompatible ? null : checksum,
    stateroot: e.ostree?.stateroot ?? null,
    requestedPackages: [],
    layered: e.incompatible,
    incompatible: e.incompatible,
    pinned: e.pinned,
    source: ['bootc'],
    rpmOstreeImage: null,
    bootcImage: img?.image.image ?? null,
    rpmOstreeDigest: null,
    bootcDigest: img?.imageDigest ?? null,
    origin: null,
  };
}

/**
 * Combine both tools' view of one slot. rpm-ostree's richer fields (packages, base checksum) win
 * where bootc has nothing to say; where both have an answer and they differ, the difference is
 * recorded in `disagreements` and each answer stays in its own field.
 */
function mergeSlot(slot: Slot, r: RpmOstreeDeployment | null, b: BootcBootEntry | null, problems: string[]): DeploymentView | null {
  if (!r && !b) return null;
  if (r && !b) return fromRpmOstree(r);
  if (!r && b) return fromBootc(b);
  const rv = fromRpmOstree(r!);
  const bv = fromBootc(b!);
  if (bv.checksum !== null && rv.checksum !== bv.checksum) {
    problems.push(`${slot}: rpm-ostree says deployment ${rv.checksum}, bootc says ${bv.checksum}`);
  }
  const both = <K extends keyof DeploymentView>(key: K, label: string): void => {
    const x = rv[key];
    const y = bv[key];
    if (x !== null && y !== null && x !== y) problems.push(`${slot} ${label}: rpm-ostree says ${String(x)}, bootc says ${String(y)}`);
  };
  both('image', 'image');
  both('transport', 'transport');
  both('digest', 'digest');
  both('version', 'version');
  both('stateroot', 'stateroot');
  // bootc forces image to null on incompatible (layered) entries: documented, not a disagreement.
  if (rv.image !== null && bv.image === null && !bv.incompatible) {
    problems.push(`${slot} image: rpm-ostree says ${rv.image}, bootc reports no image although the deployment is not incompatible`);
  }
  if (rv.image === null && bv.image !== null) {
    problems.push(`${slot} image: bootc says ${bv.image}, rpm-ostree reports no container image`);
  }
  if (rv.pinned !== bv.pinned) problems.push(`${slot} pinned: rpm-ostree says ${rv.pinned}, bootc says ${bv.pinned}`);
  if (rv.layered !== (bv.incompatible ?? false)) {
    problems.push(
      `${slot}: rpm-ostree ${rv.layered ? 'shows client-side changes' : 'shows no client-side changes'} but bootc says incompatible=${String(bv.incompatible)}`,
    );
  }
  return {
    ...rv,
    image: rv.image ?? bv.image,
    imageReference: rv.imageReference ?? bv.imageReference,
    transport: rv.transport ?? bv.transport,
    digest: rv.digest ?? bv.digest,
    version: rv.version ?? bv.version,
    // bootc's timestamp is the image's creation time, rpm-ostree's the commit's: prefer the image's.
    timestamp: bv.timestamp ?? rv.timestamp,
    stateroot: rv.stateroot ?? bv.stateroot,
    incompatible: bv.incompatible,
    source: ['rpm-ostree', 'bootc'],
    bootcImage: bv.bootcImage,
    bootcDigest: bv.bootcDigest,
  };
}

/**
 * Build the booted/staged/rollback views from whichever tools answered. Deployments are matched by
 * slot and checked by checksum (bootc's `ostree.checksum` is rpm-ostree's `checksum`).
 */
export function mergeDeployments(rpm: RpmOstreeStatus | null, bootc: BootcHost | null): MergedDeployments {
  const disagreements: string[] = [];
  const slots: Slot[] = ['booted', 'staged', 'rollback'];
  const bootcSaysNotDeployed = bootc !== null && !bootc.status.booted && !bootc.status.staged && !bootc.status.rollback;
  if (rpm?.booted && bootcSaysNotDeployed) {
    disagreements.push('rpm-ostree lists deployments but bootc says the system is not deployed via bootc (status.booted is null)');
  }
  const out: Record<Slot, DeploymentView | null> = { booted: null, staged: null, rollback: null };
  for (const slot of slots) {
    const r = rpm ? rpm[slot] : null;
    const b = bootc ? bootc.status[slot] : null;
    if (rpm && bootc && !bootcSaysNotDeployed && (r === null) !== (b === null)) {
      disagreements.push(`${slot}: only ${r ? 'rpm-ostree' : 'bootc'} reports a ${slot} deployment (${(r?.checksum ?? b?.ostree?.checksum) || '?'})`);
    }
    out[slot] = mergeSlot(slot, r, b, disagreements);
  }
  return { ...out, disagreements };
}
