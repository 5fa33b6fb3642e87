/**
 * Structural golden checks for `bootc status --format=json` and `rpm-ostree status --json`, derived
 * from the real tools' output shapes (the fixtures in test/fixtures/state/, captured from them). They check key names, nesting and null-vs-absent, never hashes or times.
 * Used on the testbed's captured outputs (unit) and on live outputs from a run (e2e).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../core/paths.js';

type Obj = Record<string, unknown>;
const load = (name: string) => JSON.parse(readFileSync(path.join(repoRoot, 'test', 'fixtures', 'state', name), 'utf8')) as Obj;
const keys = (o: unknown) => Object.keys(o as Obj).sort();

const referenceA = load('bootc-a-booted-only.json');
const refStatus = referenceA.status as Obj;
const refEntry = refStatus.booted as Obj;
const BOOTC_TOP = keys(referenceA);
const BOOTC_SPEC = keys(referenceA.spec);
const BOOTC_STATUS = keys(refStatus).filter((k) => k !== 'otherDeployments');
const BOOTC_ENTRY = keys(refEntry);
const BOOTC_IMAGE_STATUS = keys(refEntry.image);
const BOOTC_OSTREE = keys(refEntry.ostree);

/** Problems with a bootc status document; empty when it has the reference shape. */
export function bootcShapeProblems(doc: Obj): string[] {
  const p: string[] = [];
  const same = (what: string, got: string[], want: string[]) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) p.push(`${what}: keys ${got.join(',')} ≠ ${want.join(',')}`);
  };
  same('top level', keys(doc), BOOTC_TOP);
  if (doc.apiVersion !== 'org.containers.bootc/v1' || doc.kind !== 'BootcHost') p.push('apiVersion/kind');
  same('spec', keys(doc.spec), BOOTC_SPEC);
  const status = doc.status as Obj;
  same('status', keys(status).filter((k) => k !== 'otherDeployments'), BOOTC_STATUS);
  for (const slot of ['staged', 'booted', 'rollback']) {
    const e = status[slot] as Obj | null;
    if (e === null) continue;
    same(`status.${slot}`, keys(e), BOOTC_ENTRY);
    same(`status.${slot}.ostree`, keys(e.ostree), BOOTC_OSTREE);
    if (e.incompatible === true && (e.image !== null || e.cachedUpdate !== null)) p.push(`status.${slot}: incompatible entries must have image and cachedUpdate null`);
    if (e.image !== null) {
      same(`status.${slot}.image`, keys(e.image), BOOTC_IMAGE_STATUS);
      const ref = (e.image as Obj).image as Obj;
      if (!keys(ref).every((k) => ['image', 'transport', 'signature'].includes(k))) p.push(`status.${slot}.image.image: unexpected keys ${keys(ref).join(',')}`);
      if (!/^sha256:[0-9a-f]{64}$/.test(String((e.image as Obj).imageDigest))) p.push(`status.${slot}.image.imageDigest is not a sha256 digest`);
    }
  }
  const booted = status.booted as Obj | null;
  const wantType = booted && booted.image !== null ? 'bootcHost' : null;
  if (status.type !== wantType) p.push(`status.type is ${JSON.stringify(status.type)}, expected ${JSON.stringify(wantType)} (booted.image ${booted?.image === null ? 'null' : 'set'})`);
  return p;
}

const RPM_TOP = ['cached-update', 'deployments', 'transaction', 'update-driver'];
const RPM_ALWAYS = ['id', 'osname', 'checksum', 'serial', 'booted', 'staged', 'pinned', 'unlocked', 'timestamp', 'base-commit-meta', 'regenerate-initramfs', 'packages', 'base-removals', 'base-local-replacements', 'base-remote-replacements'];
const RPM_WITH_ORIGIN = ['requested-packages', 'requested-local-packages', 'requested-local-fileoverride-packages', 'requested-base-removals', 'requested-base-local-replacements'];
const RPM_LAYERED = ['base-checksum', 'base-timestamp', 'layered-commit-meta'];
const RPM_CONDITIONAL = [
  'version', 'container-image-reference', 'container-image-reference-digest', 'origin', 'gpg-enabled', 'signatures', 'base-version', 'custom-origin',
  'requested-base-remote-replacements', 'initramfs-args', 'initramfs-etc', 'cliwrap', 'finalization-locked', 'live-inprogress', 'live-replaced', 'endoflife',
  'pending-base-checksum', 'pending-base-timestamp', 'pending-base-version', 'modules', 'requested-modules', 'requested-modules-enabled',
];

/** Problems with an rpm-ostree status document; empty when it has the reference shape. */
export function rpmOstreeShapeProblems(doc: Obj): string[] {
  const p: string[] = [];
  if (JSON.stringify(keys(doc)) !== JSON.stringify(RPM_TOP)) p.push(`top level: keys ${keys(doc).join(',')} ≠ ${RPM_TOP.join(',')} (no top-level booted/staged)`);
  const deployments = doc.deployments as Obj[];
  const allowed = new Set([...RPM_ALWAYS, ...RPM_WITH_ORIGIN, ...RPM_LAYERED, ...RPM_CONDITIONAL]);
  deployments.forEach((d, i) => {
    for (const k of RPM_ALWAYS) if (!(k in d)) p.push(`deployments[${i}] lacks always-present key ${k}`);
    for (const k of Object.keys(d)) if (!allowed.has(k)) p.push(`deployments[${i}] has unknown key ${k}`);
    const layered = Array.isArray(d.packages) && (d.packages as unknown[]).length > 0;
    for (const k of RPM_LAYERED) if (layered !== k in d) p.push(`deployments[${i}] ${layered ? 'lacks' : 'has'} ${k} (layered: ${layered})`);
    if (d['container-image-reference'] && !String(d['container-image-reference']).startsWith('ostree-')) p.push(`deployments[${i}] container-image-reference is not an ostree image reference`);
    if (typeof d.id !== 'string' || !String(d.id).startsWith(`${String(d.osname)}-${String(d.checksum)}.`)) p.push(`deployments[${i}] id is not <osname>-<checksum>.<serial>`);
  });
  // Bootloader order: a staged deployment first, then the booted one — unless a rollback is
  // queued, which puts the old deployment ahead of the booted one.
  const staged = deployments.findIndex((d) => d.staged === true);
  const booted = deployments.findIndex((d) => d.booted === true);
  if (staged > 0) p.push(`the staged deployment is at index ${staged}, not first`);
  if (booted > 1 || (staged === 0 && booted !== 1)) p.push(`the booted deployment is at index ${booted}`);
  return p;
}
