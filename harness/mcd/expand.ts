/**
 * `mcd:` operations expanded into the exact host actions the machine-config-daemon performs, in its
 * order, at the MCO commit pinned in calls.yaml. Pure: the step kind gathers the HostFacts with the
 * daemon's own read-only queries, calls `expand`, then executes the plan.
 *
 * Two drivers:
 *   rpm-ostree  today's daemon;
 *   bootc       the feature-gated path the spike proposes: `bootc switch` (or `--transport
 *               containers-storage`) applies the OS image and `bootc status` answers what the booted
 *               image is; everything bootc has no verb for (kargs, extensions, kernel swap, cleanup,
 *               the package reads) stays on rpm-ostree, in the same place in the sequence.
 */
import type { CallsFile } from './calls.js';
import {
  canonicalizeKernelType,
  containerStoragePolicyKey,
  generateExtensionsArgs,
  generateKargs,
  kernelSwapOf,
  packagesForExtensions,
  parseKernelArguments,
  parseTuningFile,
  patchedPolicy,
  policyGetsPatched,
  runningRequestedKargs,
  unknownExtensions,
  type ExtensionCatalog,
} from './go-ports.js';
import type { Check, CommandItem, Driver, Follows, KernelType, NicKargsItem, Plan, PlanItem, Retry } from './plan.js';

/** The parts of a MachineConfig the OS-change path looks at. */
export interface MachineConfigOs {
  image: string;
  kargs: string[];
  extensions: string[];
  kernelType: KernelType;
}

/** The daemon's constant tables, from calls.yaml. */
export interface McoData {
  extensions: ExtensionCatalog;
  /** GetAllValidPackageSetsForExtension also accepts these older sets after a reboot. */
  legacyExtensions: ExtensionCatalog;
  kernelPackages: Record<KernelType, readonly string[]>;
}

export function mcoDataFrom(calls: CallsFile): McoData {
  return { extensions: calls['supported-extensions'], legacyExtensions: calls['legacy-extension-packages'], kernelPackages: calls['kernel-packages'] };
}

/**
 * What the daemon reads from the host while it runs, each from a read-only query (named here) that
 * the step kind runs first. Reads repeated inside the sequence appear there again as commands.
 */
export interface HostFacts {
  /** dn.bootedOSImageURL: GetBootedOSImageURL from `rpm-ostree status --json` (bootc driver: GetBootedImageInfo). */
  bootedImage: string;
  /** The booted deployment's requested-packages and requested-base-removals (`rpm-ostree status --json`). */
  booted: { requestedPackages: string[]; requestedBaseRemovals: string[] };
  /** dn.os.IsEL(): RHCOS/SCOS/CentOS/RHEL in /etc/os-release; false on Fedora CoreOS. */
  el: boolean;
  /** GOARCH of the node (`uname -m`: x86_64 → amd64, aarch64 → arm64). */
  arch: string;
  /** `rpm-ostree --version` lists the `container` feature. */
  rpmOstreeContainerFeature: boolean;
  /** `podman images --format=json --filter reference=<image>` found the target image. */
  localImage: { id: string; repoDigest: string } | null;
  /** `podman system info --format=json` .store (only used when the policy gets patched). */
  podmanStore: { graphDriverName: string; graphRoot: string } | null;
  /** /etc/containers/policy.json, or null when absent. */
  policyJson: string | null;
  /** isSecureBootEnabled (bootupd.go): `mokutil --sb-state` says "SecureBoot enabled", or mokutil failed (fail open). */
  secureBoot: boolean;
  /** BaseVersionMajor/Minor from /etc/os-release (RHEL 9.6+ tries bootloader-update.service first); null when unknown. */
  elVersion: { major: number; minor: number } | null;
  /** /etc/mco/internal-registry-pull-secret.json exists. */
  internalRegistryAuthFile: boolean;
  /** /var/lib/kubelet/config.json exists. */
  kubeletAuthFile: boolean;
  /** `podman images … reference=<extensions image>` found it (no pull needed). */
  extensionsImagePresent: boolean;
  /** /sys/fs/selinux/enforce is 1. */
  selinuxEnforcing: boolean;
  /** podmanSupportsSigstore (update.go), from `podman version -f {{.APIVersion}}`. */
  podmanSupportsSigstore: boolean;
  /** `rpm-ostree kargs` output (firstboot's setRunningKargs). */
  runningKargs: string;
  /** skopeoVersionSupportsMultiArchSigstore: `skopeo --version` >= 1.22.2. */
  skopeoNewEnough: boolean;
  /**
   * isMultiArchImage on the firstboot target (`skopeo inspect --raw docker://IMG`: a manifest list or
   * an OCI index); null when the inspect failed, which skopeoSupportsMultiArchSigstore treats as
   * "not supported". Only read for firstboot.
   */
  targetMultiArch: boolean | null;
  /** osrelease IsFCOS (Fedora CoreOS: every tuning karg is allowed). */
  fcos: boolean;
  /** /etc/pivot/kernel-args, or null when absent. */
  tuningFile: string | null;
  /** /proc/cmdline. */
  cmdline: string;
}

/**
 * Names the daemon makes up per run: a UUID (uuid.NewUUID: the extensions container's name and
 * bootupctl's INVOCATION_ID) and the os.MkdirTemp suffix of the extensions content directory. The
 * step passes fresh ones; tests pass fixed ones.
 */
export interface RunNames {
  uuid: string;
  tempSuffix: string;
}

/** Where the extensions repo comes from: the MachineConfig's extensions container, or a directory already holding its content. */
export type ExtensionsSource = { image: string } | { dir: string } | null;

/** `probe` is the daemon's choice (podman images); the others force a branch where podman cannot say. */
export type ImageSource = 'probe' | 'registry' | 'containers-storage';

export type McdOperation =
  | { operation: 'apply-os-changes'; driver: Driver; old: MachineConfigOs; new: MachineConfigOs; extensionsSource: ExtensionsSource; imageSource: ImageSource }
  | { operation: 'firstboot'; driver: Driver; target: MachineConfigOs; extensionsSource: ExtensionsSource; imageSource: ImageSource }
  | { operation: 'validate'; driver: Driver; config: MachineConfigOs }
  | { operation: 'remove-rollback'; driver: Driver }
  | { operation: 'status'; driver: Driver }
  /**
   * `os` forces the branch (the daemon reads it from ROOT/etc/os-release: IsEL9 / IsEL10); null = from the facts.
   * `givenKargs`: where nmstatectl is not on the host, the kargs the scenario says it would write (recorded as such).
   */
  | { operation: 'persist-nic-names'; driver: Driver; os: 'el9' | 'el10' | null; root: string; givenKargs: string[] | null }
  | { operation: 'update-via-container'; driver: Driver; image: string }
  | { operation: 'update-tuning-args'; driver: Driver }
  | { operation: 'initialize-control-plane'; driver: Driver };

const F = {
  update: 'pkg/daemon/update.go',
  daemon: 'pkg/daemon/daemon.go',
  rpmOstree: 'pkg/daemon/rpm-ostree.go',
  bootc: 'pkg/daemon/bootc.go',
  podman: 'pkg/daemon/podman.go',
  bootupd: 'pkg/daemon/bootupd.go',
  kernelargs: 'pkg/daemon/kernelargs.go',
  client: 'vendor/github.com/coreos/rpmostree-client-go/pkg/client/client.go',
} as const;

const at = (file: string, fn: string): Follows => ({ file, function: fn });

/** updateLayeredOS: wait.Backoff{Duration: 10s, Factor: 2, Steps: 7, Cap: 60s} (OCPBUGS-43406). */
export const rebaseRetry: Retry = { initialSeconds: 10, factor: 2, steps: 7, capSeconds: 60 };

export const extensionsRepoPath = '/etc/yum.repos.d/coreos-extensions.repo';
export const extensionsContentBase = '/run/mco-extensions/';
const temporalPolicyFile = '/run/tmp-rpm-ostree-policy.json';
const temporalDropin = '/run/systemd/system/rpm-ostreed.service.d/temporal-policy-binding.conf';
const kubeletAuthFile = '/var/lib/kubelet/config.json';

/** Collects items with ids unique within one plan. */
class Builder {
  readonly items: PlanItem[] = [];
  private readonly used = new Map<string, number>();

  constructor(
    readonly driver: Driver,
    readonly names: RunNames,
  ) {}

  id(base: string): string {
    const n = (this.used.get(base) ?? 0) + 1;
    this.used.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  }

  command(base: string, argv: string[], call: string | null, follows: Follows, check: Check, purpose: string, retry?: Retry): CommandItem {
    const item: CommandItem = { kind: 'command', id: this.id(base), argv, call, follows, check, purpose, ...(retry ? { retry } : {}) };
    this.items.push(item);
    return item;
  }

  note(base: string, text: string, follows: Follows): void {
    this.items.push({ kind: 'note', id: this.id(base), text, follows });
  }

  error(base: string, message: string, follows: Follows): void {
    this.items.push({ kind: 'daemon-error', id: this.id(base), message, follows });
  }
}

/** Two MachineConfig lists are reflect.DeepEqual (order matters; nil and empty differ only in len, handled by callers). */
const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** newMachineConfigDiff (update.go), for the OS fields. */
export function osDiff(oldC: MachineConfigOs, newC: MachineConfigOs): { osUpdate: boolean; kargs: boolean; extensions: boolean; kernelType: boolean } {
  return {
    osUpdate: oldC.image !== newC.image,
    kargs: !((oldC.kargs.length === 0 && newC.kargs.length === 0) || sameList(oldC.kargs, newC.kargs)),
    extensions: !((oldC.extensions.length === 0 && newC.extensions.length === 0) || sameList(oldC.extensions, newC.extensions)),
    kernelType: canonicalizeKernelType(oldC.kernelType) !== canonicalizeKernelType(newC.kernelType),
  };
}

export function expand(op: McdOperation, facts: HostFacts, data: McoData, names: RunNames): Plan {
  switch (op.operation) {
    case 'apply-os-changes':
      return applyOsChanges(op.driver, op.old, op.new, op.extensionsSource, op.imageSource, facts, data, names);
    case 'firstboot':
      return firstboot(op, facts, data, names);
    case 'validate':
      return validate(op.driver, op.config, facts, data, names);
    case 'remove-rollback':
      return single(op.driver, names, 'remove-rollback', (b) => removeRollback(b));
    case 'status':
      return single(op.driver, names, 'status', (b) => status(b));
    case 'persist-nic-names':
      return persistNicNames(op, facts, names);
    case 'update-via-container':
      return single(op.driver, names, 'update-via-container', (b) => inplaceUpdateViaNewContainer(b, op.image, facts));
    case 'update-tuning-args':
      return single(op.driver, names, 'update-tuning-args', (b) => updateTuningArgs(b, facts));
    case 'initialize-control-plane':
      return single(op.driver, names, 'initialize-control-plane', (b) => initializeControlPlane(b));
  }
}

function single(driver: Driver, names: RunNames, operation: string, fill: (b: Builder) => void): Plan {
  const b = new Builder(driver, names);
  fill(b);
  return { operation, driver, items: b.items, onError: null, finally: [] };
}

// ---- status reads ------------------------------------------------------------------------------

/** The status read that yields the booted image URL: rpm-ostree's GetBootedOSImageURL or bootc's GetBootedImageInfo. */
function bootedImageRead(b: Builder, check: Check, purpose: string): void {
  if (b.driver === 'bootc') {
    b.command('bootc-status', ['bootc', 'status', '--json'], 'status-json', at(F.bootc, 'GetBootedImageInfo'), check, `${purpose} (bootc driver: BootcClient.GetBootedImageInfo via Client.QueryStatus)`);
  } else {
    b.command('status-json', ['rpm-ostree', 'status', '--json'], 'status-json', at(F.rpmOstree, 'GetBootedOSImageURL'), check, purpose);
  }
}

/** Package reads have no bootc counterpart (bootc status knows no packages): rpm-ostree under both drivers. */
function packageRead(b: Builder, fn: string, file: string, check: Check, purpose: string): void {
  b.command('status-json', ['rpm-ostree', 'status', '--json'], 'status-json', at(file, fn), check, purpose);
}

function status(b: Builder): void {
  bootedImageRead(b, { kind: 'reads', fields: ['booted image URL', 'version', 'base checksum'] }, 'daemon.New: the booted OS image URL, version and checksum');
  if (b.driver === 'bootc') {
    b.command('bootc-status-text', ['bootc', 'status'], 'status-text', at(F.daemon, 'LogSystemData'), { kind: 'succeeds' }, 'LogSystemData: status for the log (bootc driver; piped, bootc prints YAML)');
  } else {
    b.command('status-text', ['rpm-ostree', 'status'], 'status-text', at(F.daemon, 'LogSystemData'), { kind: 'succeeds' }, 'LogSystemData: status for the log; the daemon exits (klog.Fatalf) if it fails');
  }
  packageRead(b, 'getUnsupportedPackages', F.daemon, { kind: 'reads', fields: ['booted requested-packages', 'requested-local-packages', 'requested-local-fileoverride-packages', 'requested-base-removals', 'requested-base-local-replacements'] }, 'getUnsupportedPackages: the unsupported-packages metric');
  if (b.driver === 'bootc') {
    b.command('bootc-version', ['bootc', '--version'], 'version', at(F.rpmOstree, 'IsNewEnoughForLayering'), { kind: 'succeeds' }, 'bootc driver: bootc --version has no feature list; every bootc handles container images');
  } else {
    b.command('version', ['rpm-ostree', '--version'], 'version', at(F.rpmOstree, 'IsNewEnoughForLayering'), { kind: 'features-include', feature: 'container' }, 'IsNewEnoughForLayering: Features must contain container');
  }
}

// ---- removeRollback ----------------------------------------------------------------------------

function removeRollback(b: Builder): void {
  b.command('cleanup-rollback', ['rpm-ostree', 'cleanup', '-r'], 'cleanup-rollback', at(F.update, 'removeRollback'), { kind: 'succeeds' }, 'removeRollback: delete the rollback deployment once the MCD runs on the node (BZ 2104619); no bootc verb, so both drivers');
}

// ---- PersistNetworkInterfaces ------------------------------------------------------------------

function persistNicNames(op: Extract<McdOperation, { operation: 'persist-nic-names' }>, facts: HostFacts, names: RunNames): Plan {
  const b = new Builder(op.driver, names);
  const follows = at(F.daemon, 'PersistNetworkInterfaces');
  const plan = (fin: PlanItem[]): Plan => ({ operation: 'persist-nic-names', driver: op.driver, items: b.items, onError: null, finally: fin });
  const major = facts.elVersion?.major;
  const os = op.os ?? (facts.el && major === 9 ? 'el9' : facts.el && major === 10 ? 'el10' : null);
  if (os === null) {
    b.note('nic-names-not-el9-el10', 'not a RHEL 9 or RHEL 10 host (osrelease IsEL9/IsEL10): PersistNetworkInterfaces returns at once', follows);
    return plan([]);
  }
  if (op.os !== null) b.note('nic-names-os-forced', `host OS forced to ${os} by the scenario (the daemon reads ${op.root === '/' ? '' : op.root}/etc/os-release)`, follows);
  const root = op.root;
  // The MCD (root "/") runs the nmstatectl it saved from the host's /usr/bin.
  const nmstatectl = root === '/' ? '/run/machine-config-daemon-bin/nmstatectl' : '/usr/bin/nmstatectl';
  // os.CreateTemp("", "nmstate-kargs"), removed by a deferred os.Remove.
  const kargsFile = `/tmp/nmstate-kargs${b.names.tempSuffix}`;
  b.items.push({ kind: 'write-file', id: b.id('nmstate-kargs-file'), path: kargsFile, content: '', follows });
  const fin: PlanItem[] = [{ kind: 'remove-file', id: b.id('remove-nmstate-kargs-file'), path: kargsFile, recursive: false, follows }];
  const argv = [nmstatectl, 'persist-nic-names', '--root', root, '--kargs-out', kargsFile, ...(os === 'el10' ? ['--cleanup'] : [])];
  if (op.givenKargs !== null) {
    b.note('nmstatectl-not-run', `${shJoinWords(argv)} is not run: the scenario gives the kargs it would write (${op.givenKargs.join(' ') || 'none'})`, follows);
    b.items.push({ kind: 'write-file', id: b.id('nmstate-kargs-given'), path: kargsFile, content: op.givenKargs.join(' '), follows });
  } else {
    const cmd = b.command('nmstatectl', argv, null, follows, { kind: 'succeeds' }, os === 'el9' ? 'Persisting NIC names for RHEL9 host system (RHEL9→10 transition)' : 'Cleaning up NIC name persistence for RHEL10 host system');
    // EL10: "nmstatectl clean up will fail if stamp file not found … these error is OK to ignore" — and the function returns nil, without the kargs call.
    if (os === 'el10') cmd.onFailure = 'return';
  }
  const prefix = root === '/' ? ['rpm-ostree', 'kargs'] : ['chroot', root, 'rpm-ostree', 'kargs'];
  const call = `kargs-${os === 'el10' ? 'remove-nic-el10' : 'append-nic-el9'}${root === '/' ? '' : '-chroot'}`;
  const item: NicKargsItem = { kind: 'nic-kargs', id: b.id('nic-kargs'), file: kargsFile, prefix, flag: os === 'el10' ? '--remove' : '--append', call, follows };
  b.items.push(item);
  return plan(fin);
}

/** For a note: argv as one line (plain words, as the daemon logs `Running: …`). */
const shJoinWords = (argv: readonly string[]): string => argv.join(' ');

/**
 * The rpm-ostree kargs call PersistNetworkInterfaces makes from nmstatectl's --kargs-out file:
 * nothing when the file is empty, else every space-separated word after the flag (as separate
 * arguments, `--append k`, split on single spaces exactly like strings.Split).
 */
export function nicKargsCommand(item: NicKargsItem, fileContent: string): CommandItem | null {
  if (fileContent.length === 0) return null;
  const kargs = fileContent.split(' ');
  return {
    kind: 'command',
    id: item.id,
    argv: [...item.prefix, ...kargs.flatMap((k) => [item.flag, k])],
    call: item.call,
    follows: item.follows,
    check: { kind: 'succeeds' },
    purpose: 'PersistNetworkInterfaces: pin (EL9) or unpin (EL10) NIC names with the kargs nmstatectl wrote',
  };
}

// ---- initializeControlPlane --------------------------------------------------------------------

/** initializeNode on a node labelled master (daemon.go) → initializeControlPlane → updateOstreeObjectSync (controlplane.go). */
function initializeControlPlane(b: Builder): void {
  b.command('per-object-fsync', ['ostree', '--repo=/sysroot/ostree/repo', 'config', 'set', 'core.per-object-fsync', 'true'], 'ostree-per-object-fsync', at('pkg/daemon/controlplane.go', 'updateOstreeObjectSync'), { kind: 'succeeds' }, 'control-plane node: per-object fsync avoids etcd latency spikes (ostree PR 2152); the same ostree repository under bootc');
}

// ---- UpdateTuningArgs --------------------------------------------------------------------------

/** UpdateTuningArgs (kernelargs.go), run by update() after the OS change: one rpm-ostree call per karg. */
function updateTuningArgs(b: Builder, facts: HostFacts): void {
  const follows = at(F.kernelargs, 'UpdateTuningArgs');
  const { add, delete: del } = parseTuningFile(facts.tuningFile, facts.cmdline, facts);
  if (add.length === 0 && del.length === 0) b.note('no-tuning-args', facts.tuningFile === null ? '/etc/pivot/kernel-args absent: no tuning kargs' : 'no tunable kargs to add or delete', follows);
  for (const k of add) b.command('tuning-append', ['rpm-ostree', 'kargs', `--append=${k}`], 'kargs-append-tuning', follows, { kind: 'succeeds' }, 'a kernel tuning argument from /etc/pivot/kernel-args; no bootc verb, so both drivers');
  for (const k of del) b.command('tuning-delete', ['rpm-ostree', 'kargs', `--delete=${k}`], 'kargs-delete-tuning', follows, { kind: 'succeeds' }, 'a kernel tuning argument removed by /etc/pivot/kernel-args');
}

// ---- InplaceUpdateViaNewContainer -------------------------------------------------------------

const systemdPodman = ['systemd-run', '--unit', 'machine-config-daemon-update-rpmostree-via-container', '-p', 'EnvironmentFile=-/etc/mco/proxy.env', '--collect', '--wait', '--', 'podman'];

function inplaceUpdateViaNewContainer(b: Builder, image: string, facts: HostFacts): void {
  const follows = at(F.update, 'InplaceUpdateViaNewContainer');
  if (facts.selinuxEnforcing) b.command('setenforce-0', ['setenforce', '0'], null, follows, { kind: 'succeeds' }, 'not easily possible to get the install_t context from a container image (MCO-396)');
  const pull = [...systemdPodman, 'pull', '--authfile', kubeletAuthFile, ...(facts.podmanSupportsSigstore ? [] : ['--signature-policy', '/etc/machine-config-daemon/policy-for-old-podman.json']), image];
  b.command('podman-pull', pull, null, follows, { kind: 'succeeds' }, 'pull the target OS image with the kubelet pull secret');
  const run = [...systemdPodman, 'run', '--env-file', '/etc/mco/proxy.env', '--privileged', '--pid=host', '--net=host', '--rm', '-v', '/:/run/host', image, 'rpm-ostree', 'ex', 'deploy-from-self', '/run/host'];
  b.command('deploy-from-self', run, 'ex-deploy-from-self', follows, { kind: 'succeeds' }, "the target image's own rpm-ostree deploys the image onto the host (MCO-356); no bootc counterpart, so both drivers");
  if (facts.selinuxEnforcing) b.command('setenforce-1', ['setenforce', '1'], null, follows, { kind: 'succeeds' }, 'restore SELinux enforcing');
}

// ---- applyOSChanges / applyLayeredOSChanges ----------------------------------------------------

function applyOsChanges(
  driver: Driver,
  oldC: MachineConfigOs,
  newC: MachineConfigOs,
  extensionsSource: ExtensionsSource,
  imageSource: ImageSource,
  facts: HostFacts,
  data: McoData,
  names: RunNames,
): Plan {
  const b = new Builder(driver, names);
  const { onErrorFrom, finally: fin } = layeredOsChanges(b, oldC, newC, extensionsSource, imageSource, facts, data);
  return {
    operation: 'apply-os-changes',
    driver,
    items: b.items,
    onError: onErrorFrom === null ? null : { from: onErrorFrom, items: [cleanupPending(new Builder(driver, names), 'cleanup-pending-rollback', 'Rolling back applied changes to OS due to error')] },
    finally: fin,
  };
}

function cleanupPending(b: Builder, id: string, purpose: string): CommandItem {
  return b.command(id, ['rpm-ostree', 'cleanup', '-p'], 'cleanup-pending', at(F.update, 'removePendingDeployment'), { kind: 'succeeds' }, purpose);
}

function layeredOsChanges(
  b: Builder,
  oldC: MachineConfigOs,
  newC: MachineConfigOs,
  extensionsSource: ExtensionsSource,
  imageSource: ImageSource,
  facts: HostFacts,
  data: McoData,
): { onErrorFrom: number | null; finally: PlanItem[] } {
  const diff = osDiff(oldC, newC);
  const newKt = canonicalizeKernelType(newC.kernelType);
  const oldKt = canonicalizeKernelType(oldC.kernelType);
  const fin: PlanItem[] = [];
  // applyOSChanges only calls applyLayeredOSChanges for these; a non-default kernel always re-applies (OCPBUGS-4049).
  if (!(diff.osUpdate || diff.extensions || diff.kernelType || diff.kargs || newKt !== 'default')) {
    b.note('no-os-changes', 'no OS update, kargs, extensions or kernel type change, and a default kernel: applyLayeredOSChanges is not called', at(F.update, 'applyOSChanges'));
    return { onErrorFrom: null, finally: fin };
  }
  const follows = at(F.update, 'applyLayeredOSChanges');
  let osUpdate = diff.osUpdate;
  if (osUpdate && facts.bootedImage === newC.image) {
    b.note('already-in-desired-image', `Already in desired image ${newC.image} (OCPBUGS-2757): no OS update`, follows);
    osUpdate = false;
  }

  const haveExtensions = oldC.extensions.length > 0 || newC.extensions.length > 0;
  const haveKernelType = oldKt !== 'default' || newKt !== 'default';
  if (extensionsSource && (haveExtensions || haveKernelType)) {
    const dir = 'dir' in extensionsSource ? extensionsSource.dir : `${extensionsContentBase}os-extensions-content-${b.names.tempSuffix}`;
    if ('image' in extensionsSource) {
      extractExtensionsImage(b, extensionsSource.image, dir, facts);
      fin.unshift({ kind: 'remove-file', id: b.id('remove-extensions-content'), path: dir, recursive: true, follows });
    } else {
      b.note('extensions-content-given', `extensions content already extracted at ${dir} (scenario input), not pulled from an extensions container`, at(F.update, 'ExtractExtensionsImage'));
    }
    b.items.push({
      kind: 'write-file',
      id: b.id('extensions-repo'),
      path: extensionsRepoPath,
      content: `[coreos-extensions]\nenabled=1\nmetadata_expire=1m\nbaseurl=${dir}/usr/share/rpm-ostree/extensions/\ngpgcheck=0\nskip_if_unavailable=False\n`,
      follows: at(F.update, 'addExtensionsRepo'),
    });
    fin.unshift({ kind: 'remove-file', id: b.id('remove-extensions-repo'), path: extensionsRepoPath, recursive: false, follows });
  }

  // "Always clean up pending, because the RT kernel switch logic below operates on booted, not pending."
  cleanupPending(b, 'cleanup-pending', 'removePendingDeployment: always clean up pending; the kernel switch logic operates on booted');
  const onErrorFrom = b.items.length;

  if (osUpdate || diff.kernelType) queueRevertKernelSwap(b, facts);
  if (osUpdate) updateLayeredOs(b, newC.image, imageSource, facts);

  if (diff.kargs) {
    const kargs = generateKargs(oldC.kargs, newC.kargs);
    if (kargs.length > 0) {
      b.command('kargs', ['rpm-ostree', 'kargs', ...kargs], 'kargs-delete-if-present-append', at(F.update, 'updateKernelArguments'), { kind: 'succeeds' }, 'updateKernelArguments: delete every old MachineConfig karg, append every new one (OCPBUGS-75894); no bootc verb, so both drivers');
    }
  }

  let failed = false;
  if (osUpdate || diff.kernelType) failed = switchKernel(b, oldKt, newKt, facts, data);
  if (!failed) applyExtensions(b, oldC, newC, facts, data);
  return { onErrorFrom, finally: fin };
}

function extractExtensionsImage(b: Builder, image: string, dir: string, facts: HostFacts): void {
  b.command('podman-images-extensions', ['podman', 'images', '--format=json', '--filter', `reference=${image}`], null, at(F.podman, 'GetPodmanImageInfoByReference'), { kind: 'reads', fields: ['extensions image present'] }, 'pullExtensionsImage: is the extensions image already present?');
  if (!facts.extensionsImagePresent) {
    b.command('podman-pull-extensions', ['podman', 'pull', '-q', ...(facts.kubeletAuthFile ? ['--authfile', kubeletAuthFile] : []), image], null, at(F.update, 'pullExtensionsImage'), { kind: 'succeeds' }, 'pull the extensions image (retried by RunExtBackground)');
  }
  // The daemon passes the id `podman create` prints to `podman cp`; the name given with --name names the same container.
  const name = `ostree-container-pivot-${b.names.uuid}`;
  b.command('podman-create-extensions', ['podman', 'create', '--net=none', '--annotation=org.openshift.machineconfigoperator.pivot=true', '--name', name, image], null, at(F.podman, 'CreatePodmanContainer'), { kind: 'succeeds' }, 'podmanCopy: a container to copy the extensions content out of');
  b.command('podman-cp-extensions', ['podman', 'cp', `${name}:/`, dir], null, at(F.update, 'podmanCopy'), { kind: 'succeeds' }, 'copy the extensions image content under /run/mco-extensions');
  b.command('chcon-extensions', ['chcon', '-R', '-t', 'var_run_t', dir], null, at(F.update, 'podmanCopy'), { kind: 'succeeds' }, 'set the SELinux context to var_run_t to avoid a denial');
  b.command('podman-kill-extensions', ['podman', 'kill', name], null, at(F.update, 'podmanRemove'), { kind: 'failure-ignored' }, 'deferred podmanRemove (errors ignored)');
  b.command('podman-rm-extensions', ['podman', 'rm', '-f', name], null, at(F.update, 'podmanRemove'), { kind: 'failure-ignored' }, 'deferred podmanRemove (errors ignored)');
}

function queueRevertKernelSwap(b: Builder, facts: HostFacts): void {
  const follows = at(F.update, 'queueRevertKernelSwap');
  packageRead(b, 'queueRevertKernelSwap', F.update, { kind: 'reads', fields: ['booted requested-base-removals', 'booted requested-packages'] }, 'queueRevertKernelSwap: GetBootedAndStagedDeployment, for the kernel overrides and kernel-rt/64k layers');
  const { overrides, layers } = kernelSwapOf(facts.booted);
  if (overrides.length > 0 && layers.length > 0) {
    b.command('revert-kernel-swap', ['rpm-ostree', 'override', 'reset', ...overrides, ...layers.flatMap((p) => ['--uninstall', p])], 'override-reset-kernel', follows, { kind: 'succeeds' }, 'undo the kernel swap before an OS update or kernel type change: kernel packages are OS version dependent');
  } else if (overrides.length > 0 || layers.length > 0) {
    b.note('kernel-swap-partial', `notice: detected ${overrides.length} kernel overrides and ${layers.length} kernel-rt or kernel-64k layers`, follows);
  } else {
    b.note('no-kernel-swap', 'No kernel overrides or replacement detected', follows);
  }
}

function updateLayeredOs(b: Builder, image: string, imageSource: ImageSource, facts: HostFacts): void {
  const follows = at(F.update, 'updateLayeredOS');
  runBootloaderUpdate(b, image, facts);
  if (b.driver === 'rpm-ostree') {
    b.command('version', ['rpm-ostree', '--version'], 'version', at(F.rpmOstree, 'IsNewEnoughForLayering'), { kind: 'features-include', feature: 'container' }, 'IsNewEnoughForLayering: Features must contain container');
    if (!facts.rpmOstreeContainerFeature) {
      b.note('not-new-enough', 'rpm-ostree is not new enough for layering; forcing an update via container', follows);
      inplaceUpdateViaNewContainer(b, image, facts);
      return;
    }
  } else {
    b.note('no-feature-check', 'bootc driver: no IsNewEnoughForLayering check; bootc always handles container images', follows);
  }
  let local = facts.localImage;
  if (imageSource === 'probe') {
    b.command('podman-images', ['podman', 'images', '--format=json', '--filter', `reference=${image}`], null, at(F.podman, 'GetPodmanImageInfoByReference'), { kind: 'reads', fields: ['target image present', 'RepoDigest'] }, 'is the new OS image already in podman storage (PinnedImageSet, bootupd pull)?');
  } else {
    b.note('image-source-forced', `image source forced to ${imageSource} by the scenario (the daemon would ask podman images)`, follows);
    local = imageSource === 'containers-storage' ? { id: facts.localImage?.id ?? '', repoDigest: image } : null;
  }
  if (local) rebaseFromContainerStorage(b, image, local, facts);
  else if (b.driver === 'bootc') {
    b.command('bootc-switch', ['bootc', 'switch', image], 'rebase-registry', at(F.bootc, 'Switch'), { kind: 'succeeds' }, 'bootc driver: BootcClient.Switch, under the same backoff as RebaseLayered', rebaseRetry);
  } else {
    b.command('rebase', ['rpm-ostree', 'rebase', '--experimental', `ostree-unverified-registry:${image}`], 'rebase-registry', at(F.rpmOstree, 'RebaseLayered'), { kind: 'succeeds' }, 'RebaseLayered, retried with backoff (OCPBUGS-43406)', rebaseRetry);
  }
}

/**
 * runBootloaderUpdate (bootupd.go) before every OS update: its error is only a warning, so the whole
 * sequence is one group. Secure Boot is read with mokutil, which fails open: no mokutil means the
 * daemon assumes Secure Boot and tries the update.
 */
function runBootloaderUpdate(b: Builder, image: string, facts: HostFacts): void {
  const follows = at(F.bootupd, 'runBootloaderUpdate');
  if (facts.arch !== 'amd64' && facts.arch !== 'arm64') {
    b.note('bootloader-update-arch', `runBootloaderUpdate: not attempted on ${facts.arch}`, follows);
    return;
  }
  const g = new Builder(b.driver, b.names);
  g.command('mokutil', ['mokutil', '--sb-state'], null, at(F.bootupd, 'isSecureBootEnabled'), { kind: 'failure-ignored' }, 'Secure Boot state; if mokutil fails the daemon assumes Secure Boot may be enabled');
  if (!facts.secureBoot) {
    g.note('bootloader-update-skipped', 'runBootloaderUpdate: Secure Boot not enabled, bootloader update not required', follows);
  } else {
    const container = new Builder(b.driver, b.names);
    bootupdViaContainer(container, image, facts);
    const v = facts.elVersion;
    if (v && (v.major > 9 || (v.major === 9 && v.minor >= 6))) {
      const service = g.command('bootloader-update', ['systemctl', 'start', 'bootloader-update.service'], null, follows, { kind: 'succeeds' }, 'RHEL 9.6+: node-level bootloader update via bootloader-update.service');
      service.otherwise = container.items;
    } else {
      g.items.push(...container.items);
    }
  }
  b.items.push({ kind: 'group', id: b.id('bootloader-update'), label: 'bootloader update (errors are only logged: "bootloader update failed")', items: g.items, failure: 'warn', follows: at(F.update, 'updateLayeredOS') });
}

function bootupdViaContainer(b: Builder, image: string, facts: HostFacts): void {
  const follows = at(F.bootupd, 'runBootupdViaContainer');
  // A failed storage check is non-fatal: the pull attempt surfaces any real error.
  b.command('podman-images-bootupd', ['podman', 'images', '--format=json', '--filter', `reference=${image}`], null, at(F.podman, 'GetPodmanImageInfoByReference'), { kind: 'failure-ignored' }, 'only pull if the image is not already in local podman storage');
  if (!facts.localImage) {
    const auth = facts.internalRegistryAuthFile ? ['--authfile', '/etc/mco/internal-registry-pull-secret.json'] : facts.kubeletAuthFile ? ['--authfile', kubeletAuthFile] : [];
    b.command('podman-pull-bootupd', ['systemd-run', '--unit', 'machine-config-daemon-bootupd', '-p', 'EnvironmentFile=-/etc/mco/proxy.env', '--collect', '--wait', '--', 'podman', 'pull', ...auth, image], null, follows, { kind: 'succeeds' }, 'pulling image for bootupctl (this pull is what later makes the OS update take the containers-storage path)');
  }
  const update = b.command(
    'bootupctl-update',
    ['systemd-run', '--unit', 'machine-config-daemon-bootupd-update', '-p', 'EnvironmentFile=-/etc/mco/proxy.env', '--collect', '--wait', '--', 'podman', 'run', '--env', `INVOCATION_ID=${b.names.uuid}`, '--privileged', '--pid=host', '--net=host', '--rm', '-v', '/boot:/boot:rslave', '-v', '/dev:/dev', image, 'bootupctl', 'update'],
    null,
    follows,
    { kind: 'succeeds' },
    'bootupctl: running update from container image',
  );
  update.otherwise = [{ kind: 'note', id: 'bootupd-fallback', text: 'bootupctl update failed; the daemon falls back to a manual EFI copy onto every ESP (runBootupdFallback), which bootpath does not replay', follows: at(F.bootupd, 'runBootupdFallback') }];
}

function rebaseFromContainerStorage(b: Builder, image: string, local: { id: string; repoDigest: string }, facts: HostFacts): void {
  if (b.driver === 'bootc') {
    // bootc has no daemon to bind a policy into; it reads /etc/containers/policy.json itself.
    b.command('bootc-switch-containers-storage', ['bootc', 'switch', '--transport', 'containers-storage', image], 'rebase-containers-storage', at(F.bootc, 'Switch'), { kind: 'succeeds' }, 'bootc driver: the pre-pulled image from containers-storage');
    return;
  }
  const follows = at(F.rpmOstree, 'RebaseLayeredFromContainerStorage');
  const patch = policyGetsPatched(facts.policyJson);
  if (facts.policyJson === null) {
    b.note('no-policy', 'No policy file found at /etc/containers/policy.json. Skipping temporal policy generation.', at(F.rpmOstree, 'patchPoliciesForContainerStorage'));
  } else if (patch) {
    b.command('podman-info', ['podman', 'system', 'info', '--format=json'], null, at(F.podman, 'GetPodmanInfo'), { kind: 'reads', fields: ['store.graphDriverName', 'store.graphRoot'] }, 'generateTransportPolicyKeyForReference: the storage driver and graph root');
    if (facts.podmanStore === null) {
      // The daemon logs "Error writing temporal policy files" and lets the rebase meet the policy as it is.
      b.note('policy-key-failed', 'failed to get podman info for storage configuration gathering: the temporal policy is not written', at(F.rpmOstree, 'RebaseLayeredFromContainerStorage'));
    } else {
      b.items.push({ kind: 'write-file', id: b.id('temporal-policy'), path: temporalPolicyFile, content: patchedPolicy(facts.policyJson, containerStoragePolicyKey(facts.podmanStore, local)), follows: at(F.rpmOstree, 'patchPoliciesForContainerStorage') });
      b.items.push({ kind: 'write-file', id: b.id('temporal-dropin'), path: temporalDropin, content: `[Service]\nBindReadOnlyPaths=${temporalPolicyFile}:/etc/containers/policy.json`, follows: at(F.rpmOstree, 'writeTemporalOstreePolicyFileDropin') });
      systemdRpmOstreeReload(b);
    }
  }
  b.command('rebase-containers-storage', ['rpm-ostree', 'rebase', '--experimental', `ostree-unverified-image:containers-storage:${local.repoDigest}`], 'rebase-containers-storage', follows, { kind: 'succeeds' }, 'Executing local container storage rebase');
  // Deferred cleanupTemporalOstreePolicyFiles: reload only when the drop-in existed.
  if (facts.policyJson !== null && patch && facts.podmanStore !== null) {
    b.items.push({ kind: 'remove-file', id: b.id('remove-temporal-dropin'), path: temporalDropin, recursive: false, follows: at(F.rpmOstree, 'cleanupTemporalOstreePolicyFiles') });
    systemdRpmOstreeReload(b);
    b.items.push({ kind: 'remove-file', id: b.id('remove-temporal-policy'), path: temporalPolicyFile, recursive: false, follows: at(F.rpmOstree, 'cleanupTemporalOstreePolicyFiles') });
  }
}

function systemdRpmOstreeReload(b: Builder): void {
  const follows = at(F.rpmOstree, 'systemdRpmOstreeReload');
  b.command('daemon-reload', ['systemctl', 'daemon-reload'], null, follows, { kind: 'succeeds' }, 'tell systemd the rpm-ostreed units changed');
  b.command('try-restart-rpm-ostreed', ['systemctl', 'try-restart', 'rpm-ostreed'], null, follows, { kind: 'succeeds' }, 'restart rpm-ostreed if running, to take the drop-in');
}

/** Returns true when the daemon errors out here. */
function switchKernel(b: Builder, oldKt: KernelType, newKt: KernelType, facts: HostFacts, data: McoData): boolean {
  const follows = at(F.update, 'switchKernel');
  if (!facts.el) {
    b.note('kernel-non-el', 'updating kernel on non-RHCOS nodes is not supported', follows);
    return false;
  }
  if (newKt === 'default') {
    b.note('kernel-default', 'target kernel type is default: the kernel swap was already reverted, nothing to do', follows);
    return false;
  }
  if (newKt === '64k-pages' && facts.arch !== 'arm64') {
    b.error('kernel-64k-arch', '64k-pages is only supported for aarch64 architecture', follows);
    return true;
  }
  b.note('kernel-switch', oldKt !== newKt ? `Initiating switch to kernel ${newKt}` : `Re-applying kernel type ${newKt}`, follows);
  const install = newKt === 'realtime' ? data.kernelPackages.realtime : data.kernelPackages['64k-pages'];
  b.command('switch-kernel', ['rpm-ostree', 'override', 'remove', ...data.kernelPackages.default, ...install.flatMap((p) => ['--install', p])], 'override-remove-kernel', follows, { kind: 'succeeds' }, `switch to the ${newKt} kernel; no bootc verb, so both drivers`);
  return false;
}

function applyExtensions(b: Builder, oldC: MachineConfigOs, newC: MachineConfigOs, facts: HostFacts, data: McoData): void {
  const follows = at(F.update, 'applyExtensions');
  if (!facts.el) {
    b.note('extensions-non-el', 'applyExtensions: no action on a non-RHCOS node', follows);
    return;
  }
  const empty = oldC.extensions.length === 0 && newC.extensions.length === 0;
  if (empty || (sameList(oldC.extensions, newC.extensions) && oldC.image === newC.image)) return;
  const unknown = unknownExtensions(newC.extensions, data.extensions);
  if (unknown.length > 0) {
    b.error('invalid-extensions', `invalid extensions found: [${unknown.join(' ')}]`, at('pkg/controller/common/helpers.go', 'ValidateMachineConfigExtensions'));
    return;
  }
  packageRead(b, 'getCurrentlyInstalledPackages', F.update, { kind: 'reads', fields: ['booted requested-packages'] }, 'getCurrentlyInstalledPackages: the booted requested-packages');
  const args = generateExtensionsArgs(facts.booted.requestedPackages, newC.extensions, data.extensions);
  if (args.length === 0) {
    b.note('no-extension-updates', 'No extension updates required', follows);
    return;
  }
  b.command('extensions', ['rpm-ostree', 'update', ...args], 'update-install-uninstall', follows, { kind: 'succeeds' }, 'Applying extensions; no bootc verb, so both drivers');
  if (newC.extensions.length === 0) return;
  packageRead(b, 'verifyExtensionsStaged', F.update, { kind: 'staged-requested-packages', packages: packagesForExtensions(newC.extensions, data.extensions) }, 'verifyExtensionsStaged: every extension package is staged before the reboot (OCPBUGS-65645)');
}

// ---- RunFirstbootCompleteMachineconfig ---------------------------------------------------------

function firstboot(op: Extract<McdOperation, { operation: 'firstboot' }>, facts: HostFacts, data: McoData, names: RunNames): Plan {
  const b = new Builder(op.driver, names);
  const follows = at(F.daemon, 'RunFirstbootCompleteMachineconfig');
  // The firstboot path asks rpm-ostree under both drivers: it decides whether the host's own tools can deploy the image.
  b.command('version', ['rpm-ostree', '--version'], 'version', at(F.rpmOstree, 'IsNewEnoughForLayering'), { kind: 'features-include', feature: 'container' }, 'IsNewEnoughForLayering at firstboot');
  // `!newEnough || !skopeoSupportsMultiArchSigstore(url)`: skopeo is only asked when rpm-ostree is new enough.
  let viaContainer = !facts.rpmOstreeContainerFeature;
  if (facts.rpmOstreeContainerFeature) {
    b.command('skopeo-version', ['skopeo', '--version'], null, at(F.update, 'skopeoVersionSupportsMultiArchSigstore'), { kind: 'failure-ignored' }, 'skopeo >= 1.22.2 for multi-arch sigstore (OCPBUGS-81187); a failure counts as too old');
    if (!facts.skopeoNewEnough) {
      const multiArch = at(F.update, 'isMultiArchImage');
      b.command('skopeo-inspect', ['skopeo', 'inspect', '--raw', ...(facts.kubeletAuthFile ? ['--authfile', kubeletAuthFile] : []), `docker://${op.target.image}`], null, multiArch, { kind: 'failure-ignored' }, 'an old skopeo only matters for a multi-arch image (manifest list or OCI index)');
      if (facts.targetMultiArch === null) b.note('multi-arch-unknown', `Failed to determine if image ${op.target.image} is multi-arch: the daemon treats the old skopeo as unsupported`, at(F.update, 'skopeoSupportsMultiArchSigstore'));
      else b.note('multi-arch', `image ${op.target.image} multi-arch: ${facts.targetMultiArch}`, multiArch);
      viaContainer = facts.targetMultiArch !== false;
    }
  }
  if (viaContainer) {
    b.note('via-container', 'rpm-ostree or skopeo is not new enough for new-format image; forcing an update via container and queuing immediate reboot', follows);
    inplaceUpdateViaNewContainer(b, op.target.image, facts);
    b.items.push({ kind: 'reboot', id: b.id('reboot'), reason: 'extra reboot for in-place update', follows });
    return { operation: 'firstboot', driver: op.driver, items: b.items, onError: null, finally: [] };
  }
  b.command('kargs-read', ['rpm-ostree', 'kargs'], 'kargs-read', at(F.update, 'setRunningKargs'), { kind: 'reads', fields: ['running kargs'] }, 'setRunningKargs: the old config gets the requested kargs that are running');
  const oldC: MachineConfigOs = { image: facts.bootedImage, kargs: runningRequestedKargs(op.target.kargs, facts.runningKargs), extensions: [], kernelType: 'default' };
  const diff = osDiff(oldC, op.target);
  if (!diff.osUpdate && !diff.kargs && !diff.extensions && !diff.kernelType) {
    b.note('firstboot-no-changes', `skipping reboot since no changes were detected (for the OS fields) to ${op.target.image}`, follows);
    return { operation: 'firstboot', driver: op.driver, items: b.items, onError: null, finally: [] };
  }
  const start = b.items.length;
  const { onErrorFrom, finally: fin } = layeredOsChanges(b, oldC, op.target, op.extensionsSource, op.imageSource, facts, data);
  const failed = b.items.slice(start).some((i) => i.kind === 'daemon-error');
  // update(): "Ideally we would want to update kernelArguments only via MachineConfigs" — after applyOSChanges.
  if (!failed) updateTuningArgs(b, facts);
  if (!failed) b.items.push({ kind: 'reboot', id: b.id('reboot'), reason: 'Completing firstboot provisioning', follows });
  return {
    operation: 'firstboot',
    driver: op.driver,
    items: b.items,
    onError: onErrorFrom === null ? null : { from: onErrorFrom, items: [cleanupPending(new Builder(op.driver, names), 'cleanup-pending-rollback', 'Rolling back applied changes to OS due to error')] },
    finally: fin,
  };
}

// ---- validateOnDiskState + verifyExtensionPackages ---------------------------------------------

function validate(driver: Driver, config: MachineConfigOs, facts: HostFacts, data: McoData, names: RunNames): Plan {
  const b = new Builder(driver, names);
  // dn.bootedOSImageURL is read when the daemon starts after the reboot; checkOS compares it.
  bootedImageRead(b, { kind: 'booted-image', image: config.image, from: driver === 'bootc' ? 'bootc-status' : 'rpm-ostree-status' }, 'checkOS: booted into the expected osImageURL');
  b.command('kargs-read', ['rpm-ostree', 'kargs'], 'kargs-read', at(F.daemon, 'validateKernelArguments'), { kind: 'kargs-include', kargs: parseKernelArguments(config.kargs) }, 'validateKernelArguments: the current boot has every MachineConfig karg; no bootc read, so both drivers');
  if (facts.el) {
    for (const ext of config.extensions) {
      const sets = [data.extensions[ext], data.legacyExtensions[ext]].filter((s): s is readonly string[] => s !== undefined);
      if (sets.length === 0) {
        b.error('extension-no-sets', `extension "${ext}" has no valid package sets defined`, at(F.update, 'verifyExtensionPackages'));
        break;
      }
      b.items.push({
        kind: 'package-sets',
        id: b.id(`rpm-q-${ext}`),
        extension: ext,
        sets: sets.map((set) => set.map((p) => ({ kind: 'command', id: `rpm-q-${p}`, argv: ['rpm', '-q', p], call: null, follows: at(F.update, 'AreAllPackagesInstalled'), check: { kind: 'rpm-installed', package: p }, purpose: `is ${p} installed?` }))),
        follows: at(F.update, 'verifyExtensionPackages'),
      });
    }
  }
  return { operation: 'validate', driver, items: b.items, onError: null, finally: [] };
}
