/**
 * The typed model of a host's deployment state, built from `rpm-ostree status --json`,
 * `bootc status --format=json`, /proc/cmdline, /etc/os-release and boot_id. The assertion engine,
 * the `record` step and the report are all built on HostState.
 *
 * Every parsed object keeps the tool's original object in `raw`, so fields added by newer tool
 * versions are never lost; fields that older versions lack are `null`, not missing.
 */

export type JsonObject = Record<string, unknown>;

// ---- rpm-ostree ----------------------------------------------------------------------------------

export interface RpmOstreeDeployment {
  id: string;
  osname: string;
  serial: number | null;
  /** The deployment commit (the client-side merge commit when layered). */
  checksum: string;
  /** The base commit; only present when client-side layered. */
  baseChecksum: string | null;
  booted: boolean;
  staged: boolean;
  pinned: boolean;
  /** "none" | "development" | "hotfix" | "transient" */
  unlocked: string | null;
  version: string | null;
  /** Epoch seconds. */
  timestamp: number | null;
  baseTimestamp: number | null;
  baseVersion: string | null;
  /** ostree imgref, e.g. `ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable`. */
  containerImageReference: string | null;
  /** Digest of the base image. */
  containerImageReferenceDigest: string | null;
  /** ostree ref or checksum origin (`fedora:fedora/x86_64/coreos/stable`). */
  origin: string | null;
  gpgEnabled: boolean | null;
  /** `[url, description]` */
  customOrigin: [string, string] | null;
  requestedPackages: string[];
  requestedLocalPackages: string[];
  requestedLocalFileoverridePackages: string[];
  requestedBaseRemovals: string[];
  requestedBaseLocalReplacements: string[];
  requestedBaseRemoteReplacements: unknown[];
  packages: string[];
  baseRemovals: string[];
  baseLocalReplacements: unknown[];
  baseRemoteReplacements: JsonObject;
  regenerateInitramfs: boolean | null;
  initramfsArgs: string[];
  initramfsEtc: string[];
  /** Older rpm-ostree builds only (e.g. RHCOS 4.x): gone at HEAD. */
  modules: string[];
  requestedModules: string[];
  requestedModulesEnabled: string[];
  finalizationLocked: boolean | null;
  liveReplaced: string | null;
  liveInprogress: string | null;
  endOfLife: string | null;
  baseCommitMeta: JsonObject;
  raw: JsonObject;
}

export interface RpmOstreeStatus {
  deployments: RpmOstreeDeployment[];
  booted: RpmOstreeDeployment | null;
  staged: RpmOstreeDeployment | null;
  /** The first deployment after the booted one that is neither booted nor staged. */
  rollback: RpmOstreeDeployment | null;
  /** `[method, sender, path]` while a transaction runs. */
  transaction: string[] | null;
  cachedUpdate: JsonObject | null;
  updateDriver: { driverName: string | null; driverSdUnit: string | null } | null;
  raw: JsonObject;
}

// ---- bootc ---------------------------------------------------------------------------------------

export type BootcSignature =
  | { kind: 'ostreeRemote'; remote: string }
  | { kind: 'containerPolicy' }
  | { kind: 'insecure' }
  | { kind: 'unknown'; raw: unknown };

export interface BootcImageReference {
  image: string;
  transport: string;
  /** null when omitted (unverified). */
  signature: BootcSignature | null;
}

export interface BootcImageStatus {
  image: BootcImageReference;
  version: string | null;
  /** RFC 3339. */
  timestamp: string | null;
  imageDigest: string | null;
  /** OCI architecture name (`amd64`), bootc ≥ 1.1.7. */
  architecture: string | null;
  raw: JsonObject;
}

export interface BootcBootEntry {
  /** null for ostree-ref origins and for entries with rpm-ostree client-side changes (`incompatible`). */
  image: BootcImageStatus | null;
  cachedUpdate: BootcImageStatus | null;
  incompatible: boolean;
  pinned: boolean;
  /** bootc ≥ 1.7.0 */
  softRebootCapable: boolean | null;
  /** bootc ≥ 1.12.0 */
  downloadOnly: boolean | null;
  /** bootc ≥ 0.1.14 */
  store: string | null;
  ostree: { checksum: string; deploySerial: number | null; stateroot: string | null } | null;
  composefs: JsonObject | null;
  raw: JsonObject;
}

export interface BootcHost {
  /** `org.containers.bootc/v1` or the older `org.containers.bootc/v1alpha1`. */
  apiVersion: string;
  kind: string;
  spec: { image: BootcImageReference | null; bootOrder: string | null };
  status: {
    staged: BootcBootEntry | null;
    booted: BootcBootEntry | null;
    rollback: BootcBootEntry | null;
    otherDeployments: BootcBootEntry[];
    rollbackQueued: boolean;
    /** "bootcHost" only when booted.image is non-null. */
    type: string | null;
    usrOverlay: { accessMode: string | null; persistence: string | null } | null;
    readOnly: boolean | null;
  };
  raw: JsonObject;
}

// ---- merged view ---------------------------------------------------------------------------------

export interface DeploymentView {
  /** Container image name without transport prefix, e.g. "quay.io/fedora/fedora-bootc:42"; null for ostree-ref/checksum origins. */
  image: string | null;
  /** Full ostree imgref as rpm-ostree shows it (rendered from bootc's reference when only bootc reported it). */
  imageReference: string | null;
  /** Container transport in bootc's naming: registry, containers-storage, oci, … */
  transport: string | null;
  digest: string | null;
  version: string | null;
  /** RFC 3339. */
  timestamp: string | null;
  checksum: string | null;
  baseChecksum: string | null;
  stateroot: string | null;
  requestedPackages: string[];
  /** Client-side layering (packages, overrides, initramfs) present. */
  layered: boolean;
  /** bootc's flag; null when bootc did not report this deployment. */
  incompatible: boolean | null;
  pinned: boolean;
  /** Which tools reported it. */
  source: ('rpm-ostree' | 'bootc')[];
  /** Each tool's own answer, kept side by side so that disagreements stay visible. */
  rpmOstreeImage: string | null;
  bootcImage: string | null;
  rpmOstreeDigest: string | null;
  bootcDigest: string | null;
  /** ostree ref/checksum origin (non-container hosts). */
  origin: string | null;
}

export interface ToolState<T> {
  /** The tool exists in the guest (false: exit 127 / command not found). */
  available: boolean;
  status: T | null;
  /** Why status is null although the tool exists (non-zero exit, unparseable output). */
  error?: string;
}

export interface HostState {
  capturedAt: string;
  bootId: string | null;
  systemState: string | null;
  failedUnits: string[];
  kargs: string[];
  osRelease: Record<string, string>;
  rpmOstree: ToolState<RpmOstreeStatus>;
  bootc: ToolState<BootcHost>;
  /** One merged view for assertions and the timeline: */
  booted: DeploymentView | null;
  staged: DeploymentView | null;
  rollback: DeploymentView | null;
  /** Where rpm-ostree and bootc tell different stories (question Q2). Empty when they agree or only one spoke. */
  disagreements: string[];
}
