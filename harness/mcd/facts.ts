/**
 * The HostFacts an `mcd:` step needs, read from the guest the way the daemon reads them (each fact
 * names its MCO source in expand.ts's HostFacts). All reads go out as one guest call: a constant
 * script whose only inputs are positional arguments (the target and extensions images), so no
 * scenario value is ever shell text. Each read comes back as `name exit base64(stdout)`, which keeps
 * any output, markers included, intact.
 */
import { StateParseError } from '../state/json.js';
import { parseRpmOstreeStatus } from '../state/rpm-ostree.js';
import { parseOsRelease } from '../state/text.js';
import { bootedImageFromRpmOstree } from './checks.js';
import { daemonView, type GoTypes } from './daemon-view.js';
import type { HostFacts } from './expand.js';
import { podmanImageFor, versionHasFeature } from './go-ports.js';
import type { Driver } from './plan.js';

/** Reads whose stderr the daemon looks at too (exec.CombinedOutput): mokutil prints its state there on some versions. */
export const FACTS_SCRIPT = [
  'img=$1 ext=$2 driver=$3 scope=$4',
  'fact() { name=$1; shift; out=$("$@" 2>/dev/null); rc=$?; printf "%s %s %s\\n" "$name" "$rc" "$(printf %s "$out" | base64 | tr -d "\\n")"; }',
  'factc() { name=$1; shift; out=$("$@" 2>&1); rc=$?; printf "%s %s %s\\n" "$name" "$rc" "$(printf %s "$out" | base64 | tr -d "\\n")"; }',
  'fact status rpm-ostree status --json',
  'if [ "$driver" = bootc ]; then fact bootc-status bootc status --json; fi',
  'fact os-release cat /etc/os-release',
  'fact arch uname -m',
  '[ "$scope" = identity ] && exit 0',
  'fact version rpm-ostree --version',
  'fact kargs rpm-ostree kargs',
  'fact cmdline cat /proc/cmdline',
  'fact policy cat /etc/containers/policy.json',
  'factc mokutil mokutil --sb-state',
  'fact internal-auth test -e /etc/mco/internal-registry-pull-secret.json',
  'fact kubelet-auth test -e /var/lib/kubelet/config.json',
  'fact selinux cat /sys/fs/selinux/enforce',
  'fact tuning cat /etc/pivot/kernel-args',
  'fact skopeo skopeo --version',
  'if [ "$scope" = firstboot ] && [ -n "$img" ]; then',
  '  if [ -e /var/lib/kubelet/config.json ]; then fact inspect skopeo inspect --raw --authfile /var/lib/kubelet/config.json "docker://$img"; else fact inspect skopeo inspect --raw "docker://$img"; fi',
  'fi',
  'if command -v podman >/dev/null 2>&1; then',
  '  fact podman-version podman version -f "{{.APIVersion}}"',
  '  fact podman-info podman system info --format=json',
  '  if [ -n "$img" ]; then fact podman-images podman images --format=json --filter "reference=$img"; fi',
  '  if [ -n "$ext" ]; then fact ext-images podman images --format=json --filter "reference=$ext"; fi',
  'fi',
].join('\n');

export interface FactNeeds {
  driver: Driver;
  /**
   * `identity`: only what the daemon reads when it starts (the booted image, os-release, arch) — what
   * status, validate, remove-rollback, persist-nic-names and initialize-control-plane use. `os-change`:
   * everything the OS-change, tuning and via-container paths read as well. `firstboot`: also whether
   * the target is a multi-arch image (the daemon's `skopeo inspect`). Facts outside the scope
   * keep their "absent" value and those operations do not look at them.
   */
  scope: 'identity' | 'os-change' | 'firstboot';
  /** The image an OS update would move to ('' when the operation updates nothing). */
  image: string;
  /** The extensions container image ('' when none). */
  extensionsImage: string;
}

export function factsArgv(needs: FactNeeds): string[] {
  return ['sh', '-c', FACTS_SCRIPT, 'sh', needs.image, needs.extensionsImage, needs.driver, needs.scope];
}

interface Read {
  exit: number;
  out: string;
}

export function parseFactLines(stdout: string): Map<string, Read> {
  const reads = new Map<string, Read>();
  for (const line of stdout.split('\n')) {
    const m = /^([a-z-]+) (\d+) ?([A-Za-z0-9+/=]*)$/u.exec(line.trim());
    if (m) reads.set(m[1]!, { exit: Number(m[2]), out: Buffer.from(m[3] ?? '', 'base64').toString('utf8') });
  }
  return reads;
}

/** semver.Compare(x, min) >= 0 for "X.Y.Z[-pre]" (a pre-release of min is older than min). */
export function versionAtLeast(version: string, min: string): boolean | null {
  const parse = (v: string) => /^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+\S*)?$/u.exec(v.trim());
  const a = parse(version);
  const b = parse(min);
  if (!a || !b) return null;
  for (let i = 1; i <= 3; i++) {
    const d = Number(a[i]) - Number(b[i]);
    if (d !== 0) return d > 0;
  }
  return !a[4] || Boolean(b[4]);
}

/** osrelease.getOSVersion: RHEL_VERSION, else VERSION minus the OPENSHIFT_VERSION prefix, else VERSION_ID. */
function osVersion(os: Record<string, string>): string {
  if (os.RHEL_VERSION !== undefined) return os.RHEL_VERSION;
  const ocp = os.OPENSHIFT_VERSION;
  if (ocp !== undefined) {
    const prefix = `${ocp.replaceAll('.', '')}.`;
    if ((os.VERSION ?? '').startsWith(prefix)) return (os.VERSION ?? '').replaceAll(prefix, '');
  }
  return os.VERSION_ID ?? '';
}

const GOARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', ppc64le: 'ppc64le', s390x: 's390x' };

export class FactsError extends Error {}

const MULTI_ARCH_TYPES = new Set(['application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.index.v1+json']);

/** isMultiArchImage (update.go): the raw manifest's mediaType is a list or an index; null when the inspect failed or is not JSON. */
function multiArch(raw: string | null): boolean | null {
  if (raw === null) return null;
  try {
    const mediaType = (JSON.parse(raw) as { mediaType?: unknown }).mediaType;
    return typeof mediaType === 'string' && MULTI_ARCH_TYPES.has(mediaType);
  } catch {
    return null;
  }
}

/**
 * The facts from the reads. Throws FactsError where the daemon itself could not start (no booted
 * deployment, a status it cannot parse, bootc's GetBootedImageInfo panicking).
 */
export function factsFrom(reads: Map<string, Read>, needs: FactNeeds, goTypes: GoTypes): HostFacts {
  const get = (name: string): Read => reads.get(name) ?? { exit: 127, out: '' };
  const ok = (name: string): string | null => (get(name).exit === 0 ? get(name).out : null);
  const status = ok('status');
  if (status === null) throw new FactsError(`rpm-ostree status --json failed (exit ${get('status').exit}): the daemon cannot start`);
  let bootedImage: string;
  let booted: HostFacts['booted'];
  try {
    const parsed = parseRpmOstreeStatus(status).booted;
    if (!parsed) throw new StateParseError('no booted deployment');
    booted = { requestedPackages: parsed.requestedPackages, requestedBaseRemovals: parsed.requestedBaseRemovals };
    bootedImage = bootedImageFromRpmOstree(status);
  } catch (err) {
    if (err instanceof StateParseError) throw new FactsError(`rpm-ostree status --json: ${err.message}`);
    throw err;
  }
  if (needs.driver === 'bootc') {
    const raw = ok('bootc-status');
    if (raw === null) throw new FactsError(`bootc status --json failed (exit ${get('bootc-status').exit}): the bootc-driven daemon cannot read the booted image`);
    let json: unknown;
    try {
      json = JSON.parse(raw) as unknown;
    } catch (err) {
      throw new FactsError(`bootc status --json is not JSON: ${(err as Error).message}`);
    }
    const info = daemonView(json, goTypes).getBootedImageInfo;
    if (info.kind === 'panic') throw new FactsError(`the bootc-driven daemon panics reading the booted image: ${info.message} (${info.at})`);
    if (info.kind === 'error') throw new FactsError(info.message);
    bootedImage = info.value.OSImageURL;
  }
  const os = parseOsRelease(ok('os-release') ?? '');
  const id = os.ID ?? '';
  const variant = os.VARIANT_ID ?? '';
  // osrelease.IsEL / IsFCOS (MCO pkg/daemon/osrelease/osrelease.go).
  const el = id === 'rhcos' || id === 'scos' || ((id === 'rhel' || id === 'centos') && variant === 'coreos');
  const [major, minor] = osVersion(os).split('.');
  const elVersion = major !== undefined && /^\d+$/u.test(major) ? { major: Number(major), minor: minor !== undefined && /^\d+$/u.test(minor) ? Number(minor) : -1 } : null;
  const mokutil = get('mokutil');
  const store = (() => {
    const info = ok('podman-info');
    if (info === null) return null;
    try {
      const s = (JSON.parse(info) as { store?: { graphDriverName?: unknown; graphRoot?: unknown } }).store;
      return typeof s?.graphDriverName === 'string' && typeof s.graphRoot === 'string' ? { graphDriverName: s.graphDriverName, graphRoot: s.graphRoot } : null;
    } catch {
      return null;
    }
  })();
  const imageIn = (name: string, ref: string) => {
    const json = ok(name);
    if (json === null || ref === '') return null;
    try {
      return podmanImageFor(json, ref);
    } catch {
      return null;
    }
  };
  const skopeoFields = (ok('skopeo') ?? '').trim().split(/\s+/u);
  return {
    bootedImage,
    booted,
    el,
    arch: GOARCH[(ok('arch') ?? '').trim()] ?? (ok('arch') ?? '').trim(),
    rpmOstreeContainerFeature: versionHasFeature(ok('version') ?? '', 'container'),
    localImage: imageIn('podman-images', needs.image),
    podmanStore: store,
    policyJson: ok('policy'),
    // isSecureBootEnabled fails open: a mokutil that cannot answer means "may be enabled".
    secureBoot: mokutil.exit !== 0 || mokutil.out.includes('SecureBoot enabled'),
    elVersion,
    internalRegistryAuthFile: get('internal-auth').exit === 0,
    kubeletAuthFile: get('kubelet-auth').exit === 0,
    extensionsImagePresent: imageIn('ext-images', needs.extensionsImage) !== null,
    selinuxEnforcing: (ok('selinux') ?? '').trim() === '1',
    podmanSupportsSigstore: versionAtLeast(ok('podman-version') ?? '', '4.4.1') === true,
    runningKargs: (ok('kargs') ?? '').trim(),
    skopeoNewEnough: skopeoFields.length >= 3 && versionAtLeast(skopeoFields[2]!, '1.22.2') === true,
    targetMultiArch: multiArch(ok('inspect')),
    fcos: id === 'fedora' && variant === 'coreos',
    tuningFile: ok('tuning'),
    cmdline: (ok('cmdline') ?? '').trim(),
  };
}
