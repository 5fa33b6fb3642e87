/**
 * HostFacts for tests of the mcd expansion and executor: an RHCOS 9.6 node (EL, amd64, rpm-ostree
 * with the container feature, no Secure Boot, no pre-pulled image), booted into `bootedImage`.
 */
import type { HostFacts } from '../../harness/mcd/expand.js';

export function rhcosFacts(bootedImage: string, over: Partial<HostFacts> = {}): HostFacts {
  return {
    bootedImage,
    booted: { requestedPackages: [], requestedBaseRemovals: [] },
    el: true,
    arch: 'amd64',
    rpmOstreeContainerFeature: true,
    localImage: null,
    podmanStore: null,
    policyJson: null,
    secureBoot: false,
    elVersion: { major: 9, minor: 6 },
    internalRegistryAuthFile: false,
    kubeletAuthFile: false,
    extensionsImagePresent: false,
    selinuxEnforcing: false,
    podmanSupportsSigstore: true,
    runningKargs: '',
    skopeoNewEnough: true,
    targetMultiArch: false,
    fcos: false,
    tuningFile: null,
    cmdline: 'root=UUID=x rw',
    ...over,
  };
}
