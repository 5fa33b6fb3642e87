/**
 * Ports of the small pure helpers the machine-config-daemon uses to turn a MachineConfig diff and
 * the host's status into command arguments. Each function names its Go original; the expansions in
 * expand.ts are built only from these, so the argument order is the daemon's and not ours.
 */
import { parse as parseYaml } from 'yaml';
import type { KernelType } from './plan.js';

/** helpers.CanonicalizeKernelType (pkg/helpers/helpers.go): anything unknown, "" included, is default. */
export function canonicalizeKernelType(kernelType: string | undefined): KernelType {
  if (kernelType === 'realtime') return 'realtime';
  if (kernelType === '64k-pages') return '64k-pages';
  return 'default';
}

/** isSpace (update.go): white space in the C and POSIX locales. */
function isSpace(c: string): boolean {
  return c === ' ' || c === '\f' || c === '\n' || c === '\r' || c === '\t' || c === '\v';
}

/** splitKernelArguments/nextArg (update.go): kernel cmdline words; `"` groups spaces and cannot be escaped. */
export function splitKernelArguments(args: string): string[] {
  const split: string[] = [];
  let stop = 0;
  while (stop < args.length) {
    let start = stop;
    while (start < args.length && isSpace(args[start]!)) start++;
    let inQuote = false;
    stop = start;
    for (; stop < args.length; stop++) {
      if (isSpace(args[stop]!) && !inQuote) break;
      if (args[stop] === '"') inQuote = !inQuote;
    }
    if (start !== stop) split.push(args.slice(start, stop));
  }
  return split;
}

/** parseKernelArguments (update.go): every MachineConfig entry may hold several kargs. */
export function parseKernelArguments(kargs: readonly string[]): string[] {
  return kargs.flatMap((k) => splitKernelArguments(k).map((a) => a.trim()));
}

/** generateKargs (update.go): delete every old MachineConfig karg (if present), then append every new one. */
export function generateKargs(oldKargs: readonly string[], newKargs: readonly string[]): string[] {
  return [...parseKernelArguments(oldKargs).map((a) => `--delete-if-present=${a}`), ...parseKernelArguments(newKargs).map((a) => `--append=${a}`)];
}

/** setRunningKargsWithCmdline (update.go): the requested kargs that are running, in cmdline order. */
export function runningRequestedKargs(requested: readonly string[], cmdline: string): string[] {
  const out: string[] = [];
  for (const word of splitKernelArguments(cmdline.trim())) if (requested.includes(word)) out.push(word);
  return out;
}

/** sets.List: Go's sorted slice of a string set (byte order). */
function sortedSet(values: Iterable<string>): string[] {
  return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export type ExtensionCatalog = Readonly<Record<string, readonly string[]>>;

/** validateExtensions (pkg/controller/common/helpers.go): names the daemon refuses. */
export function unknownExtensions(extensions: readonly string[], catalog: ExtensionCatalog): string[] {
  return extensions.filter((e) => !Object.hasOwn(catalog, e));
}

/** GetPackagesForSupportedExtensions: the packages of each extension, in the config's order. */
export function packagesForExtensions(extensions: readonly string[], catalog: ExtensionCatalog): string[] {
  return extensions.flatMap((e) => catalog[e] ?? []);
}

/**
 * generateExtensionsArgs (update.go): install what the new config needs and the booted deployment
 * lacks; uninstall extension packages the booted deployment has and the new config does not need.
 * Packages that are no extension's (a machine-local layer) are never touched.
 */
export function generateExtensionsArgs(installed: readonly string[], newExtensions: readonly string[], catalog: ExtensionCatalog): string[] {
  const installedSet = new Set(installed);
  const required = new Set(packagesForExtensions(newExtensions, catalog));
  const all = new Set(Object.values(catalog).flat());
  const args: string[] = [];
  for (const p of sortedSet([...required].filter((p) => !installedSet.has(p)))) args.push('--install', p);
  for (const p of sortedSet([...installedSet].filter((p) => all.has(p) && !required.has(p)))) args.push('--uninstall', p);
  return args;
}

/** queueRevertKernelSwap (update.go): which booted overrides and layers count as a kernel swap. */
export function kernelSwapOf(booted: { requestedBaseRemovals: readonly string[]; requestedPackages: readonly string[] }): {
  overrides: string[];
  layers: string[];
} {
  return {
    overrides: booted.requestedBaseRemovals.filter((r) => r === 'kernel' || r.startsWith('kernel-')),
    layers: booted.requestedPackages.filter((p) => p.startsWith('kernel-rt-') || p.startsWith('kernel-64k-')),
  };
}

/**
 * GetBootedOSImageURL (rpm-ostree.go) via RequireContainerImage/ostree-ext imgref parsing: the image
 * name without the ostree signature prefix and transport. `pivot://` custom origins are the old form.
 */
export function imageFromOstreeImageReference(ref: string): string | null {
  const sig = /^(ostree-unverified-registry|ostree-unverified-image|ostree-image-signed|ostree-remote-image:[^:]+|ostree-remote-registry:[^:]+):(.*)$/u.exec(ref);
  if (!sig) return null;
  const [, kind, rest] = sig as unknown as [string, string, string];
  if (kind === 'ostree-unverified-registry' || kind.startsWith('ostree-remote-registry:')) return rest;
  // ostree-unverified-image:TRANSPORT:NAME, ostree-image-signed:TRANSPORT:NAME, ostree-remote-image:REMOTE:TRANSPORT:NAME
  const transport = /^(registry|docker|containers-storage|oci|oci-archive|docker-daemon|dir):(.*)$/u.exec(rest);
  if (!transport) return null;
  return transport[2]!.replace(/^\/\//u, '');
}

/** IsNewEnoughForLayering (rpm-ostree.go): `rpm-ostree --version` is YAML with a Features list. */
export function versionHasFeature(versionYaml: string, feature: string): boolean {
  let doc: unknown;
  try {
    doc = parseYaml(versionYaml);
  } catch {
    return false;
  }
  const root = (doc as { 'rpm-ostree'?: { Features?: unknown } } | null)?.['rpm-ostree'];
  return Array.isArray(root?.Features) && root.Features.includes(feature);
}

/**
 * GetPodmanImageInfoByReference (podman.go): the first image `podman images --filter reference=`
 * lists, with RepoDigest set only when one of its RepoDigests is exactly the reference.
 */
export function podmanImageFor(podmanImagesJson: string, reference: string): { id: string; repoDigest: string } | null {
  const list = JSON.parse(podmanImagesJson) as Array<{ Id?: string; ID?: string; RepoDigests?: string[] }>;
  const first = list[0];
  if (!first) return null;
  return { id: first.Id ?? first.ID ?? '', repoDigest: (first.RepoDigests ?? []).find((d) => d === reference) ?? '' };
}

/**
 * patchPoliciesForContainerStorage (rpm-ostree.go) means to skip the temporary policy when the
 * default is [insecureAcceptAnything] and no containers-storage rules exist, but its test
 * `reflect.DeepEqual(policy.Default[0], signature.PolicyRequirements{…})` compares one requirement
 * with a list of them, which is never equal: every existing policy.json is patched. Only a missing
 * file skips it.
 */
export function policyGetsPatched(policyJson: string | null): boolean {
  return policyJson !== null;
}

/** patchPoliciesForContainerStorage: the policy with an insecureAcceptAnything rule for one containers-storage key. */
export function patchedPolicy(policyJson: string, key: string): string {
  const policy = JSON.parse(policyJson) as { transports?: Record<string, Record<string, unknown>> };
  const transports = (policy.transports ??= {});
  const cs = (transports['containers-storage'] ??= {});
  cs[key] = [{ type: 'insecureAcceptAnything' }];
  return JSON.stringify(policy, null, 2);
}

/** generateTransportPolicyKeyForReference (rpm-ostree.go): `[<driver>@<graph-root>]<repo-digest>@<image-id>`. */
export function containerStoragePolicyKey(store: { graphDriverName: string; graphRoot: string }, image: { repoDigest: string; id: string }): string {
  return `[${store.graphDriverName}@${store.graphRoot}]${image.repoDigest}@${image.id}`;
}

/**
 * parseTuningFile (kernelargs.go): `ADD k` / `DELETE k` lines of /etc/pivot/kernel-args. On EL only
 * `nosmt` is tunable, on FCOS anything, elsewhere nothing; an ADD already on the cmdline and a
 * DELETE not on it are skipped. A missing file is no change.
 */
export function parseTuningFile(file: string | null, cmdline: string, os: { el: boolean; fcos: boolean }): { add: string[]; delete: string[] } {
  const out = { add: [] as string[], delete: [] as string[] };
  if (file === null) return out;
  const tunable = (k: string): boolean => (os.el ? k === 'nosmt' : os.fcos);
  const inUse = (k: string): boolean => ` ${cmdline.trim()} `.includes(` ${k} `);
  for (const line of file.split('\n')) {
    if (line.startsWith('ADD ')) {
      const key = line.slice(4).trim();
      if (tunable(key) && !inUse(key)) out.add.push(key);
    } else if (line.startsWith('DELETE ')) {
      const key = line.slice(7).trim();
      if (tunable(key) && inUse(key)) out.delete.push(key);
    }
  }
  return out;
}
