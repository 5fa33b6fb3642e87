import { bool, isObject, list, num, obj, parseJsonObject, str, strList, StateParseError } from './json.js';
import type { JsonObject, RpmOstreeDeployment, RpmOstreeStatus } from './types.js';

function parseDeployment(d: JsonObject, index: number): RpmOstreeDeployment {
  const checksum = str(d, 'checksum');
  if (!checksum) throw new StateParseError(`rpm-ostree status: deployments[${index}] has no "checksum"`);
  const customOrigin = strList(d, 'custom-origin');
  return {
    id: str(d, 'id') ?? `${str(d, 'osname') ?? '?'}-${checksum}.${num(d, 'serial') ?? 0}`,
    osname: str(d, 'osname') ?? '',
    serial: num(d, 'serial'),
    checksum,
    baseChecksum: str(d, 'base-checksum'),
    booted: bool(d, 'booted') ?? false,
    staged: bool(d, 'staged') ?? false,
    pinned: bool(d, 'pinned') ?? false,
    unlocked: str(d, 'unlocked'),
    version: str(d, 'version'),
    timestamp: num(d, 'timestamp'),
    baseTimestamp: num(d, 'base-timestamp'),
    baseVersion: str(d, 'base-version'),
    containerImageReference: str(d, 'container-image-reference'),
    containerImageReferenceDigest: str(d, 'container-image-reference-digest'),
    origin: str(d, 'origin'),
    gpgEnabled: bool(d, 'gpg-enabled'),
    customOrigin: customOrigin.length >= 2 ? [customOrigin[0]!, customOrigin[1]!] : null,
    requestedPackages: strList(d, 'requested-packages'),
    requestedLocalPackages: strList(d, 'requested-local-packages'),
    requestedLocalFileoverridePackages: strList(d, 'requested-local-fileoverride-packages'),
    requestedBaseRemovals: strList(d, 'requested-base-removals'),
    requestedBaseLocalReplacements: strList(d, 'requested-base-local-replacements'),
    requestedBaseRemoteReplacements: list(d, 'requested-base-remote-replacements'),
    packages: strList(d, 'packages'),
    baseRemovals: strList(d, 'base-removals'),
    baseLocalReplacements: list(d, 'base-local-replacements'),
    baseRemoteReplacements: obj(d, 'base-remote-replacements') ?? {},
    regenerateInitramfs: bool(d, 'regenerate-initramfs'),
    initramfsArgs: strList(d, 'initramfs-args'),
    initramfsEtc: strList(d, 'initramfs-etc'),
    modules: strList(d, 'modules'),
    requestedModules: strList(d, 'requested-modules'),
    requestedModulesEnabled: strList(d, 'requested-modules-enabled'),
    finalizationLocked: bool(d, 'finalization-locked'),
    liveReplaced: str(d, 'live-replaced'),
    liveInprogress: str(d, 'live-inprogress'),
    endOfLife: str(d, 'endoflife'),
    baseCommitMeta: obj(d, 'base-commit-meta') ?? {},
    raw: d,
  };
}

/** Parse `rpm-ostree status --json`. Unknown keys are kept in `raw`; absent optional keys read as null/empty. */
export function parseRpmOstreeStatus(json: string): RpmOstreeStatus {
  const root = parseJsonObject(json, 'rpm-ostree status --json output');
  if (!Array.isArray(root.deployments)) {
    throw new StateParseError('rpm-ostree status --json output has no "deployments" array');
  }
  const deployments = root.deployments.map((d, i) => {
    if (!isObject(d)) throw new StateParseError(`rpm-ostree status: deployments[${i}] is not an object`);
    return parseDeployment(d, i);
  });
  const bootedIndex = deployments.findIndex((d) => d.booted);
  const booted = bootedIndex >= 0 ? deployments[bootedIndex]! : null;
  const staged = deployments.find((d) => d.staged) ?? null;
  // rpm-ostree orders staged, booted, rollback, others; a queued rollback (`rollback` before the
  // reboot) moves to the top, above the booted one. Either way the rollback is the first plain
  // deployment, as bootc counts it, so both tools' rollback slots describe the same deployment.
  const rollback = bootedIndex >= 0 ? (deployments.find((d) => !d.booted && !d.staged) ?? null) : null;
  const tx = root.transaction;
  const driver = obj(root, 'update-driver');
  return {
    deployments,
    booted,
    staged,
    rollback,
    transaction: Array.isArray(tx) ? tx.filter((x): x is string => typeof x === 'string') : null,
    cachedUpdate: obj(root, 'cached-update'),
    updateDriver: driver ? { driverName: str(driver, 'driver-name'), driverSdUnit: str(driver, 'driver-sd-unit') } : null,
    raw: root,
  };
}

/** Client-side changes on top of the base: what makes bootc call a deployment `incompatible`. */
export function hasClientSideChanges(d: RpmOstreeDeployment): boolean {
  return (
    d.baseChecksum !== null ||
    d.requestedPackages.length > 0 ||
    d.requestedLocalPackages.length > 0 ||
    d.requestedLocalFileoverridePackages.length > 0 ||
    d.requestedBaseRemovals.length > 0 ||
    d.requestedBaseLocalReplacements.length > 0 ||
    d.requestedBaseRemoteReplacements.length > 0 ||
    d.requestedModules.length > 0 ||
    d.regenerateInitramfs === true ||
    d.initramfsEtc.length > 0
  );
}
