/**
 * Each expanded command line is pinned against the MCO function it follows, at the commit pinned in
 * harness/mcd/calls.yaml (7ff337a4). The Go line the argv comes from is quoted above each check.
 */
import { expect } from 'chai';
import { loadCalls, matchesShape, type CallsFile } from '../../harness/mcd/calls.js';
import { expand as expandWith, mcoDataFrom, nicKargsCommand, type HostFacts, type MachineConfigOs, type McdOperation, type McoData } from '../../harness/mcd/expand.js';
import type { CommandItem, Plan, PlanItem } from '../../harness/mcd/plan.js';
import { rhcosFacts } from '../support/mcd-facts.js';

const V1 = 'quay.io/openshift/os@sha256:1111111111111111111111111111111111111111111111111111111111111111';
const V2 = 'quay.io/openshift/os@sha256:2222222222222222222222222222222222222222222222222222222222222222';

const facts = (over: Partial<HostFacts> = {}): HostFacts => rhcosFacts(V1, { kubeletAuthFile: true, extensionsImagePresent: true, ...over });

const names = { uuid: '0b8e2c1e-0000-4000-8000-000000000001', tempSuffix: '123456' };
const expand = (op: McdOperation, f: HostFacts, d: McoData): Plan => expandWith(op, f, d, names);

const mc = (over: Partial<MachineConfigOs> = {}): MachineConfigOs => ({ image: V1, kargs: [], extensions: [], kernelType: 'default', ...over });

const commands = (plan: Plan): CommandItem[] =>
  [...plan.items, ...(plan.onError?.items ?? []), ...plan.finally].flatMap(function all(i: PlanItem): CommandItem[] {
    if (i.kind === 'command') return [i, ...(i.otherwise ?? []).flatMap(all)];
    if (i.kind === 'group') return i.items.flatMap(all);
    return i.kind === 'package-sets' ? i.sets.flat() : [];
  });
/** The command lines in order, groups flattened (their `otherwise` branches are not on the main path). */
const flat = (items: PlanItem[]): PlanItem[] => items.flatMap((i) => (i.kind === 'group' ? flat(i.items) : [i]));
const lines = (plan: Plan): string[] => flat(plan.items).filter((i): i is CommandItem => i.kind === 'command').map((c) => c.argv.join(' '));
const cmd = (plan: Plan, id: string): CommandItem => {
  const found = plan.items.find((i): i is CommandItem => i.kind === 'command' && i.id === id);
  if (!found) throw new Error(`no command '${id}' in ${plan.items.map((i) => i.id).join(', ')}`);
  return found;
};

describe('mcd expand', () => {
  let calls: CallsFile;
  let data: McoData;
  before(async () => {
    calls = await loadCalls();
    data = mcoDataFrom(calls);
  });

  const apply = (driver: 'rpm-ostree' | 'bootc', oldC: MachineConfigOs, newC: MachineConfigOs, f = facts(), extras: Partial<Extract<McdOperation, { operation: 'apply-os-changes' }>> = {}): Plan =>
    expand({ operation: 'apply-os-changes', driver, old: oldC, new: newC, extensionsSource: null, imageSource: 'probe', ...extras }, f, data);

  describe('applyLayeredOSChanges (pkg/daemon/update.go), driver rpm-ostree', () => {
    it('an OS update: cleanup -p, the kernel-swap status read, --version, podman probe, rebase with backoff', () => {
      const plan = apply('rpm-ostree', mc(), mc({ image: V2 }));
      expect(lines(plan)).to.deep.equal([
        // removePendingDeployment: return runRpmOstree("cleanup", "-p")
        'rpm-ostree cleanup -p',
        // queueRevertKernelSwap → GetBootedAndStagedDeployment → client.QueryStatus: c := client.newCmd("status", "--json")
        'rpm-ostree status --json',
        // isSecureBootEnabled: runGetOut("mokutil", "--sb-state")
        'mokutil --sb-state',
        // rpmOstreeVersion: r.commandRunner.RunGetOut("rpm-ostree", "--version")
        'rpm-ostree --version',
        // GetPodmanImageInfoByReference: RunGetOut("podman", "images", "--format=json", "--filter", "reference="+reference)
        `podman images --format=json --filter reference=${V2}`,
        // RebaseLayered: runRpmOstree("rebase", "--experimental", "ostree-unverified-registry:"+imgURL)
        `rpm-ostree rebase --experimental ostree-unverified-registry:${V2}`,
      ]);
      // wait.Backoff{Duration: 10 * time.Second, Factor: 2, Steps: 7, Cap: 60 * time.Second}
      expect(cmd(plan, 'rebase').retry).to.deep.equal({ initialSeconds: 10, factor: 2, steps: 7, capSeconds: 60 });
      expect(cmd(plan, 'rebase').follows).to.deep.equal({ file: 'pkg/daemon/rpm-ostree.go', function: 'RebaseLayered' });
      // The rollback defer is registered right after the first cleanup -p.
      expect(plan.onError?.from).to.equal(1);
      expect(plan.onError?.items.map((i) => (i.kind === 'command' ? i.argv.join(' ') : i.kind))).to.deep.equal(['rpm-ostree cleanup -p']);
      expect(plan.items.find((i) => i.id === 'no-kernel-swap')?.kind).to.equal('note');
    });

    it('the booted image already matching skips the OS update (OCPBUGS-2757)', () => {
      // if mcDiff.osUpdate && dn.bootedOSImageURL == newConfig.Spec.OSImageURL { mcDiff.osUpdate = false }
      const plan = apply('rpm-ostree', mc(), mc({ image: V2 }), facts({ bootedImage: V2 }));
      expect(lines(plan)).to.deep.equal(['rpm-ostree cleanup -p']);
      expect(plan.items.map((i) => i.id)).to.include('already-in-desired-image');
    });

    it('no OS change at all does not reach applyLayeredOSChanges', () => {
      const plan = apply('rpm-ostree', mc(), mc());
      expect(lines(plan)).to.deep.equal([]);
      expect(plan.onError).to.equal(null);
    });

    it('a kargs change: every old karg --delete-if-present=, then every new one --append=', () => {
      // cmdArgs = append(cmdArgs, "--delete-if-present="+arg) … cmdArgs = append(cmdArgs, "--append="+arg)
      const plan = apply('rpm-ostree', mc({ kargs: ['a=1 b', 'c'] }), mc({ kargs: ['a=2', 'x="y z"'] }));
      expect(lines(plan)).to.deep.equal(['rpm-ostree cleanup -p', 'rpm-ostree kargs --delete-if-present=a=1 --delete-if-present=b --delete-if-present=c --append=a=2 --append=x="y z"']);
      expect(cmd(plan, 'kargs').call).to.equal('kargs-delete-if-present-append');
    });

    it('an extension added: repo file, cleanup -p, status, update --install, then the staged check', () => {
      const plan = apply('rpm-ostree', mc(), mc({ extensions: ['usbguard', 'kerberos'] }), facts(), { extensionsSource: { dir: '/var/lib/bootpath/extensions' } });
      const repo = plan.items.find((i) => i.kind === 'write-file');
      // repoContent := "[coreos-extensions]\nenabled=1\nmetadata_expire=1m\nbaseurl=" + extensionsImageContentDir + "/usr/share/rpm-ostree/extensions/\ngpgcheck=0\nskip_if_unavailable=False\n"
      expect(repo).to.deep.include({ path: '/etc/yum.repos.d/coreos-extensions.repo', content: '[coreos-extensions]\nenabled=1\nmetadata_expire=1m\nbaseurl=/var/lib/bootpath/extensions/usr/share/rpm-ostree/extensions/\ngpgcheck=0\nskip_if_unavailable=False\n' });
      expect(lines(plan)).to.deep.equal([
        'rpm-ostree cleanup -p',
        // getCurrentlyInstalledPackages: dn.NodeUpdaterClient.Peel().QueryStatus()
        'rpm-ostree status --json',
        // args = append([]string{constants.RPMOSTreeUpdateArg}, args...) with sets.List(toInstall) sorted
        'rpm-ostree update --install krb5-workstation --install libkadm5 --install usbguard',
        // verifyExtensionsStaged: _, staged, err := dn.NodeUpdaterClient.GetBootedAndStagedDeployment()
        'rpm-ostree status --json',
      ]);
      expect(cmd(plan, 'status-json-2').check).to.deep.equal({ kind: 'staged-requested-packages', packages: ['usbguard', 'krb5-workstation', 'libkadm5'] });
      // defer os.Remove(extensionsRepo)
      expect(plan.finally.map((i) => (i.kind === 'remove-file' ? i.path : i.kind))).to.deep.equal(['/etc/yum.repos.d/coreos-extensions.repo']);
    });

    it('an extension removed uninstalls only extension packages the booted deployment has', () => {
      // managedInstalled := installedSet.Intersection(allExtensionSet); toUninstall := managedInstalled.Difference(requiredSet)
      const plan = apply('rpm-ostree', mc({ extensions: ['usbguard'] }), mc({ extensions: [] }), facts({ booted: { requestedPackages: ['usbguard', 'htop'], requestedBaseRemovals: [] } }));
      expect(lines(plan)).to.deep.equal(['rpm-ostree cleanup -p', 'rpm-ostree status --json', 'rpm-ostree update --uninstall usbguard']);
    });

    it('an unknown extension is the daemon error of ValidateMachineConfigExtensions', () => {
      const plan = apply('rpm-ostree', mc(), mc({ extensions: ['htop'] }));
      expect(plan.items.at(-1)).to.deep.include({ kind: 'daemon-error', message: 'invalid extensions found: [htop]' });
    });

    it('kernel-rt on: override remove of the default kernel with --install of each kernel-rt package', () => {
      const plan = apply('rpm-ostree', mc(), mc({ kernelType: 'realtime' }));
      expect(lines(plan)).to.deep.equal([
        'rpm-ostree cleanup -p',
        'rpm-ostree status --json',
        // args := []string{"override", "remove"}; args = append(args, kernelPackages.defaultKernel...); args = append(args, constants.RPMOSTreeInstallArg, pkg)
        'rpm-ostree override remove kernel kernel-core kernel-modules kernel-modules-core kernel-modules-extra --install kernel-rt-core --install kernel-rt-modules --install kernel-rt-modules-extra',
      ]);
    });

    it('kernel-rt off: override reset of the booted kernel removals with --uninstall of each kernel-rt layer', () => {
      const booted = { requestedPackages: ['kernel-rt-core', 'kernel-rt-modules', 'usbguard'], requestedBaseRemovals: ['kernel', 'kernel-core'] };
      const plan = apply('rpm-ostree', mc({ kernelType: 'realtime' }), mc(), facts({ booted }));
      expect(lines(plan)).to.deep.equal([
        'rpm-ostree cleanup -p',
        'rpm-ostree status --json',
        // args := []string{"override", "reset"}; args = append(args, kernelOverrides...); args = append(args, constants.RPMOSTreeUninstallArg, pkg)
        'rpm-ostree override reset kernel kernel-core --uninstall kernel-rt-core --uninstall kernel-rt-modules',
      ]);
      // if newKtype == ctrlcommon.KernelTypeDefault { return nil }
      expect(plan.items.map((i) => i.id)).to.include('kernel-default');
    });

    it('a realtime target re-applies the swap even when nothing changed (OCPBUGS-4049)', () => {
      const plan = apply('rpm-ostree', mc({ kernelType: 'realtime' }), mc({ kernelType: 'realtime' }));
      // switchKernel only runs for osUpdate || kernelType: here neither, so only cleanup -p runs.
      expect(lines(plan)).to.deep.equal(['rpm-ostree cleanup -p']);
    });

    it('64k-pages on amd64 is the daemon error, then the rollback defer runs cleanup -p', () => {
      // return fmt.Errorf("64k-pages is only supported for aarch64 architecture")
      const plan = apply('rpm-ostree', mc(), mc({ kernelType: '64k-pages' }));
      expect(plan.items.at(-1)).to.deep.include({ kind: 'daemon-error', message: '64k-pages is only supported for aarch64 architecture' });
      expect(plan.onError?.items).to.have.length(1);
    });

    it('64k-pages on arm64 installs the kernel-64k set', () => {
      const plan = apply('rpm-ostree', mc(), mc({ kernelType: '64k-pages' }), facts({ arch: 'arm64' }));
      expect(lines(plan).at(-1)).to.equal('rpm-ostree override remove kernel kernel-core kernel-modules kernel-modules-core kernel-modules-extra --install kernel-64k-core --install kernel-64k-modules --install kernel-64k-modules-core --install kernel-64k-modules-extra');
    });

    it("the whole MachineConfig at once keeps the daemon's order", () => {
      const booted = { requestedPackages: ['kernel-rt-core'], requestedBaseRemovals: ['kernel'] };
      const plan = apply('rpm-ostree', mc({ kernelType: 'realtime', kargs: ['old'] }), mc({ image: V2, kargs: ['new'], extensions: ['sysstat'], kernelType: 'realtime' }), facts({ booted }), { extensionsSource: { dir: '/x' } });
      expect(plan.items.filter((i) => i.kind === 'command' || i.kind === 'write-file').map((i) => i.id)).to.deep.equal([
        'extensions-repo',
        'cleanup-pending',
        'status-json',
        'revert-kernel-swap',
        'version',
        'podman-images',
        'rebase',
        'kargs',
        'switch-kernel',
        'status-json-2',
        'extensions',
        'status-json-3',
      ]);
    });

    it('an image in podman storage: the temporal policy, rpmostreed restart, containers-storage rebase, cleanup', () => {
      const policyJson = JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }], transports: {} });
      const f = facts({ localImage: { id: 'abc', repoDigest: V2 }, policyJson, podmanStore: { graphDriverName: 'overlay', graphRoot: '/var/lib/containers/storage' } });
      const plan = apply('rpm-ostree', mc(), mc({ image: V2 }), f);
      expect(plan.items.slice(6).filter((i) => i.kind !== 'note').map((i) => (i.kind === 'command' ? i.argv.join(' ') : `${i.kind} ${'path' in i ? i.path : ''}`))).to.deep.equal([
        // GetPodmanInfo: 'podman system info --format=json'
        'podman system info --format=json',
        'write-file /run/tmp-rpm-ostree-policy.json',
        'write-file /run/systemd/system/rpm-ostreed.service.d/temporal-policy-binding.conf',
        // systemdRpmOstreeReload: runCmdSync("systemctl", "daemon-reload"); runCmdSync("systemctl", "try-restart", "rpm-ostreed")
        'systemctl daemon-reload',
        'systemctl try-restart rpm-ostreed',
        // RebaseLayeredFromContainerStorage: runRpmOstree("rebase", "--experimental", "ostree-unverified-image:containers-storage:"+podmanImageInfo.RepoDigest)
        `rpm-ostree rebase --experimental ostree-unverified-image:containers-storage:${V2}`,
        'remove-file /run/systemd/system/rpm-ostreed.service.d/temporal-policy-binding.conf',
        'systemctl daemon-reload',
        'systemctl try-restart rpm-ostreed',
        'remove-file /run/tmp-rpm-ostree-policy.json',
      ]);
      const policy = plan.items.find((i) => i.id === 'temporal-policy');
      // fmt.Sprintf("[%s@%s]%s@%s", GraphDriverName, GraphRoot, RepoDigest, ID)
      expect(JSON.parse(policy?.kind === 'write-file' ? policy.content : '{}').transports['containers-storage']).to.have.key(`[overlay@/var/lib/containers/storage]${V2}@abc`);
    });

    it('a host rpm-ostree without the container feature updates via a container', () => {
      const plan = apply('rpm-ostree', mc(), mc({ image: V2 }), facts({ rpmOstreeContainerFeature: false }));
      expect(lines(plan).slice(3)).to.deep.equal([
        'rpm-ostree --version',
        // pullArgs = append(pullArgs, "pull", "--authfile", "/var/lib/kubelet/config.json") … pullArgs = append(pullArgs, target)
        `systemd-run --unit machine-config-daemon-update-rpmostree-via-container -p EnvironmentFile=-/etc/mco/proxy.env --collect --wait -- podman pull --authfile /var/lib/kubelet/config.json ${V2}`,
        // runArgs = append(runArgs, "run", "--env-file", "/etc/mco/proxy.env", "--privileged", "--pid=host", "--net=host", "--rm", "-v", "/:/run/host", target, "rpm-ostree", "ex", "deploy-from-self", "/run/host")
        `systemd-run --unit machine-config-daemon-update-rpmostree-via-container -p EnvironmentFile=-/etc/mco/proxy.env --collect --wait -- podman run --env-file /etc/mco/proxy.env --privileged --pid=host --net=host --rm -v /:/run/host ${V2} rpm-ostree ex deploy-from-self /run/host`,
      ]);
    });

    it('an extensions container is pulled, copied out and removed like podmanCopy does', () => {
      const plan = apply('rpm-ostree', mc(), mc({ extensions: ['sysstat'] }), facts({ extensionsImagePresent: false }), { extensionsSource: { image: 'quay.io/ext@sha256:e' } });
      expect(lines(plan).slice(0, 7)).to.deep.equal([
        'podman images --format=json --filter reference=quay.io/ext@sha256:e',
        // args := []string{"pull", "-q"}; args = append(args, authArgs...)
        'podman pull -q --authfile /var/lib/kubelet/config.json quay.io/ext@sha256:e',
        // additionalArgs := []string{"--net=none", "--annotation=org.openshift.machineconfigoperator.pivot=true"}; args = append(args, "--name", containerName, imgURL)
        'podman create --net=none --annotation=org.openshift.machineconfigoperator.pivot=true --name ostree-container-pivot-0b8e2c1e-0000-4000-8000-000000000001 quay.io/ext@sha256:e',
        'podman cp ostree-container-pivot-0b8e2c1e-0000-4000-8000-000000000001:/ /run/mco-extensions/os-extensions-content-123456',
        // args = []string{"-R", "-t", "var_run_t", osImageContentDir}
        'chcon -R -t var_run_t /run/mco-extensions/os-extensions-content-123456',
        'podman kill ostree-container-pivot-0b8e2c1e-0000-4000-8000-000000000001',
        'podman rm -f ostree-container-pivot-0b8e2c1e-0000-4000-8000-000000000001',
      ]);
      expect(plan.finally.map((i) => i.kind === 'remove-file' && i.path)).to.deep.equal(['/etc/yum.repos.d/coreos-extensions.repo', '/run/mco-extensions/os-extensions-content-123456']);
    });
  });

  describe('runBootloaderUpdate (pkg/daemon/bootupd.go) before the OS update', () => {
    it('Secure Boot on RHEL 9.6+: bootloader-update.service, falling back to bootupctl in the new image', () => {
      const plan = apply('rpm-ostree', mc(), mc({ image: V2 }), facts({ secureBoot: true }));
      const group = plan.items.find((i) => i.kind === 'group');
      if (group?.kind !== 'group') throw new Error('no bootloader group');
      expect(group.failure).to.equal('warn');
      const service = group.items[1];
      if (service?.kind !== 'command') throw new Error('no service command');
      // runCmdSync("systemctl", "start", "bootloader-update.service")
      expect(service.argv).to.deep.equal(['systemctl', 'start', 'bootloader-update.service']);
      expect((service.otherwise ?? []).map((i) => (i.kind === 'command' ? i.argv.join(' ') : i.kind))).to.deep.equal([
        `podman images --format=json --filter reference=${V2}`,
        // pullArgs = append(pullArgs, "pull") … pullArgs = append(pullArgs, "--authfile", kubeletAuthFile) … pullArgs = append(pullArgs, imageURL)
        `systemd-run --unit machine-config-daemon-bootupd -p EnvironmentFile=-/etc/mco/proxy.env --collect --wait -- podman pull --authfile /var/lib/kubelet/config.json ${V2}`,
        // "--", "podman", "run", "--env", "INVOCATION_ID="+string(uuid.NewUUID()), "--privileged", "--pid=host", "--net=host", "--rm", "-v", "/boot:/boot:rslave", "-v", "/dev:/dev", imageURL, "bootupctl", "update"
        `systemd-run --unit machine-config-daemon-bootupd-update -p EnvironmentFile=-/etc/mco/proxy.env --collect --wait -- podman run --env INVOCATION_ID=0b8e2c1e-0000-4000-8000-000000000001 --privileged --pid=host --net=host --rm -v /boot:/boot:rslave -v /dev:/dev ${V2} bootupctl update`,
      ]);
    });

    it('Secure Boot before RHEL 9.6 goes straight to the container', () => {
      const plan = apply('rpm-ostree', mc(), mc({ image: V2 }), facts({ secureBoot: true, elVersion: { major: 9, minor: 4 }, localImage: { id: 'i', repoDigest: V2 } }));
      expect(lines(plan).slice(2, 5).map((l) => l.split(' -- ')[1] ?? l)).to.deep.equal([
        'mokutil --sb-state',
        `podman images --format=json --filter reference=${V2}`,
        // The image is already in storage: no pull, straight to bootupctl update.
        `podman run --env INVOCATION_ID=0b8e2c1e-0000-4000-8000-000000000001 --privileged --pid=host --net=host --rm -v /boot:/boot:rslave -v /dev:/dev ${V2} bootupctl update`,
      ]);
    });
  });

  describe('applyLayeredOSChanges, driver bootc', () => {
    it('bootc switch applies the image; no --version check; kargs, kernel and extensions stay rpm-ostree', () => {
      const plan = apply('bootc', mc({ kargs: ['a'] }), mc({ image: V2, kargs: ['b'], kernelType: 'realtime', extensions: ['sysstat'] }), facts(), { extensionsSource: { dir: '/x' } });
      expect(lines(plan)).to.deep.equal([
        'rpm-ostree cleanup -p',
        'rpm-ostree status --json',
        'mokutil --sb-state',
        `podman images --format=json --filter reference=${V2}`,
        // BootcClient.Switch: runBootc("switch", imgURL)
        `bootc switch ${V2}`,
        'rpm-ostree kargs --delete-if-present=a --append=b',
        'rpm-ostree override remove kernel kernel-core kernel-modules kernel-modules-core kernel-modules-extra --install kernel-rt-core --install kernel-rt-modules --install kernel-rt-modules-extra',
        'rpm-ostree status --json',
        'rpm-ostree update --install sysstat',
        'rpm-ostree status --json',
      ]);
      expect(cmd(plan, 'bootc-switch')).to.deep.include({ call: 'rebase-registry', retry: { initialSeconds: 10, factor: 2, steps: 7, capSeconds: 60 } });
    });

    it('an OS update with an extension kept: applyExtensions reads booted, so nothing re-installs what bootc switch drops', () => {
      // installedSet, err := dn.getCurrentlyInstalledPackages() → bootedDeployment.RequestedPackages; toInstall := requiredSet.Difference(installedSet)
      const f = facts({ booted: { requestedPackages: ['usbguard'], requestedBaseRemovals: [] } });
      const plan = apply('bootc', mc({ extensions: ['usbguard'] }), mc({ image: V2, extensions: ['usbguard'] }), f, { extensionsSource: { dir: '/x' } });
      expect(lines(plan).slice(-2)).to.deep.equal([`bootc switch ${V2}`, 'rpm-ostree status --json']);
      // "No extension updates required" returns before verifyExtensionsStaged.
      expect(plan.items.at(-1)).to.deep.include({ kind: 'note', text: 'No extension updates required' });
    });

    it('a pre-pulled image: bootc switch --transport containers-storage, no policy drop-in', () => {
      const plan = apply('bootc', mc(), mc({ image: V2 }), facts({ policyJson: '{"default":[{"type":"reject"}]}' }), { imageSource: 'containers-storage' });
      expect(lines(plan).at(-1)).to.equal(`bootc switch --transport containers-storage ${V2}`);
      expect(plan.items.some((i) => i.kind === 'write-file')).to.equal(false);
    });
  });

  describe('RunFirstbootCompleteMachineconfig (pkg/daemon/daemon.go)', () => {
    it('--version, skopeo --version, the kargs read, then applyLayeredOSChanges against the running kargs, then a reboot', () => {
      const op: McdOperation = { operation: 'firstboot', driver: 'rpm-ostree', target: mc({ image: V2, kargs: ['a', 'b'] }), extensionsSource: null, imageSource: 'probe' };
      const plan = expand(op, facts({ runningKargs: 'root=UUID=x rw a\n' }), data);
      expect(lines(plan).slice(0, 3)).to.deep.equal([
        'rpm-ostree --version',
        // cmd := exec.Command("skopeo", "--version")
        'skopeo --version',
        // setRunningKargs: dn.cmdRunner.RunGetOut("rpm-ostree", "kargs")
        'rpm-ostree kargs',
      ]);
      // setRunningKargsWithCmdline keeps only 'a' (running and requested) in the old config: delete a, append a and b.
      expect(lines(plan)).to.include('rpm-ostree kargs --delete-if-present=a --append=a --append=b');
      expect(plan.items.at(-1)?.kind).to.equal('reboot');
    });

    it('an old skopeo: skopeo inspect decides; a multi-arch target or a failed inspect goes via the container (skopeoSupportsMultiArchSigstore)', () => {
      const op: McdOperation = { operation: 'firstboot', driver: 'rpm-ostree', target: mc({ image: V2, kargs: ['a'] }), extensionsSource: null, imageSource: 'probe' };
      const single = expand(op, facts({ skopeoNewEnough: false, targetMultiArch: false }), data);
      // args := []string{"inspect", "--raw"}; if kubeletAuthFile exists: "--authfile", kubeletAuthFile; "docker://"+imageURL
      expect(lines(single).slice(0, 4)).to.deep.equal(['rpm-ostree --version', 'skopeo --version', `skopeo inspect --raw --authfile /var/lib/kubelet/config.json docker://${V2}`, 'rpm-ostree kargs']);
      for (const targetMultiArch of [true, null]) {
        const via = expand(op, facts({ skopeoNewEnough: false, targetMultiArch }), data);
        expect(via.items.map((i) => i.id)).to.include('via-container');
        expect(lines(via).at(-1)).to.match(/rpm-ostree ex deploy-from-self \/run\/host$/u);
        expect(via.items.at(-1)).to.deep.include({ kind: 'reboot', reason: 'extra reboot for in-place update' });
      }
      // rpm-ostree too old: skopeo is not asked at all (short-circuit ||).
      expect(lines(expand(op, facts({ rpmOstreeContainerFeature: false }), data))[1]).to.match(/^systemd-run /u);
    });

    it('nothing to change: no update, no reboot', () => {
      const op: McdOperation = { operation: 'firstboot', driver: 'rpm-ostree', target: mc({ kargs: ['a'] }), extensionsSource: null, imageSource: 'probe' };
      const plan = expand(op, facts({ runningKargs: 'a' }), data);
      expect(lines(plan)).to.deep.equal(['rpm-ostree --version', 'skopeo --version', 'rpm-ostree kargs']);
      expect(plan.items.at(-1)?.id).to.equal('firstboot-no-changes');
    });
  });

  describe('validate: validateOnDiskStateImpl and verifyExtensionPackages', () => {
    it('rpm-ostree: status for checkOS, kargs read, rpm -q per extension package (current set, then legacy)', () => {
      const plan = expand({ operation: 'validate', driver: 'rpm-ostree', config: mc({ image: V2, kargs: ['a b'], extensions: ['ipsec'] }) }, facts(), data);
      expect(lines(plan)).to.deep.equal(['rpm-ostree status --json', 'rpm-ostree kargs']);
      expect(cmd(plan, 'status-json').check).to.deep.equal({ kind: 'booted-image', image: V2, from: 'rpm-ostree-status' });
      // foundArgsArray := strings.Split(rpmostreeKargs, " ") … expected := parseKernelArguments(currentConfig.Spec.KernelArguments)
      expect(cmd(plan, 'kargs-read').check).to.deep.equal({ kind: 'kargs-include', kargs: ['a', 'b'] });
      const sets = plan.items.find((i) => i.kind === 'package-sets');
      // out, err := exec.Command("rpm", "-q", pkg).CombinedOutput()
      expect(sets?.kind === 'package-sets' && sets.sets.map((s) => s.map((c) => c.argv.join(' ')))).to.deep.equal([
        ['rpm -q NetworkManager-libreswan', 'rpm -q libreswan', 'rpm -q openvswitch3.5-ipsec'],
        ['rpm -q NetworkManager-libreswan', 'rpm -q libreswan'],
      ]);
    });

    it('bootc: the booted image comes from bootc status --json (QueryStatus), kargs still from rpm-ostree', () => {
      const plan = expand({ operation: 'validate', driver: 'bootc', config: mc() }, facts(), data);
      // client.newCmd("status", "--json")
      expect(lines(plan)).to.deep.equal(['bootc status --json', 'rpm-ostree kargs']);
      expect(cmd(plan, 'bootc-status').check).to.deep.equal({ kind: 'booted-image', image: V1, from: 'bootc-status' });
    });
  });

  describe('status, remove-rollback, persist-nic-names, update-via-container', () => {
    it('status, rpm-ostree: status --json, status (LogSystemData), status --json (metric), --version', () => {
      const plan = expand({ operation: 'status', driver: 'rpm-ostree' }, facts(), data);
      // LogSystemData: dn.cmdRunner.RunGetOut("rpm-ostree", "status")
      expect(lines(plan)).to.deep.equal(['rpm-ostree status --json', 'rpm-ostree status', 'rpm-ostree status --json', 'rpm-ostree --version']);
      expect(cmd(plan, 'status-json-2').follows.function).to.equal('getUnsupportedPackages');
    });

    it('status, bootc: bootc status --json, bootc status, the package metric on rpm-ostree, bootc --version', () => {
      const plan = expand({ operation: 'status', driver: 'bootc' }, facts(), data);
      expect(lines(plan)).to.deep.equal(['bootc status --json', 'bootc status', 'rpm-ostree status --json', 'bootc --version']);
    });

    it('remove-rollback is rpm-ostree cleanup -r under both drivers', () => {
      // removeRollback: return runRpmOstree("cleanup", "-r")
      for (const driver of ['rpm-ostree', 'bootc'] as const) expect(lines(expand({ operation: 'remove-rollback', driver }, facts(), data))).to.deep.equal(['rpm-ostree cleanup -r']);
    });

    it('persist-nic-names EL9 from the MCD (root /): saved nmstatectl, then rpm-ostree kargs --append K per karg', () => {
      const plan = expand({ operation: 'persist-nic-names', driver: 'rpm-ostree', os: 'el9', root: '/', givenKargs: null }, facts(), data);
      // exec.Command(nmstateBinary, "persist-nic-names", "--root", osRoot, "--kargs-out", tmpKargs.Name())
      expect(lines(plan)).to.deep.equal(['/run/machine-config-daemon-bin/nmstatectl persist-nic-names --root / --kargs-out /tmp/nmstate-kargs123456']);
      const nic = plan.items.find((i) => i.kind === 'nic-kargs');
      expect(nic?.kind).to.equal('nic-kargs');
      if (nic?.kind !== 'nic-kargs') return;
      // rpmOstreeArgs = append(rpmOstreeArgs, "--append", karg)
      expect(nicKargsCommand(nic, 'ifname=eth0:aa:bb ifname=eth1:cc:dd')?.argv.join(' ')).to.equal('rpm-ostree kargs --append ifname=eth0:aa:bb --append ifname=eth1:cc:dd');
      // if len(kargsBuf) == 0 { return nil }
      expect(nicKargsCommand(nic, '')).to.equal(null);
    });

    it('persist-nic-names EL9 at firstboot (--persist-nics, root /rootfs) runs chrooted', () => {
      const plan = expand({ operation: 'persist-nic-names', driver: 'rpm-ostree', os: 'el9', root: '/rootfs', givenKargs: null }, facts(), data);
      const nic = plan.items.find((i) => i.kind === 'nic-kargs');
      if (nic?.kind !== 'nic-kargs') throw new Error('no nic-kargs item');
      // cmd = exec.Command("chroot", osRoot, "rpm-ostree", "kargs")
      expect(nicKargsCommand(nic, 'k=v')?.argv).to.deep.equal(['chroot', '/rootfs', 'rpm-ostree', 'kargs', '--append', 'k=v']);
      expect(lines(plan)[0]).to.equal('/usr/bin/nmstatectl persist-nic-names --root /rootfs --kargs-out /tmp/nmstate-kargs123456');
    });

    it('persist-nic-names EL10: nmstatectl --cleanup (a failure returns nil, no kargs call), then rpm-ostree kargs --remove K', () => {
      const plan = expand({ operation: 'persist-nic-names', driver: 'rpm-ostree', os: 'el10', root: '/', givenKargs: null }, facts(), data);
      // cmd.Args = append(cmd.Args, "--cleanup")
      expect(cmd(plan, 'nmstatectl')).to.deep.include({ argv: ['/run/machine-config-daemon-bin/nmstatectl', 'persist-nic-names', '--root', '/', '--kargs-out', '/tmp/nmstate-kargs123456', '--cleanup'], check: { kind: 'succeeds' }, onFailure: 'return' });
      const nic = plan.items.find((i) => i.kind === 'nic-kargs');
      if (nic?.kind !== 'nic-kargs') throw new Error('no nic-kargs item');
      // rpmOstreeArgs = append(rpmOstreeArgs, "--remove", karg)
      expect(nicKargsCommand(nic, 'k=v')).to.deep.include({ argv: ['rpm-ostree', 'kargs', '--remove', 'k=v'], call: 'kargs-remove-nic-el10' });
    });

    it('persist-nic-names: the temp file is created first and removed last; the OS comes from os-release unless forced', () => {
      const plan = expand({ operation: 'persist-nic-names', driver: 'rpm-ostree', os: null, root: '/', givenKargs: null }, facts({ elVersion: { major: 10, minor: 0 } }), data);
      // tmpKargs, err := os.CreateTemp("", "nmstate-kargs"); defer os.Remove(tmpKargs.Name())
      expect(plan.items[0]).to.deep.include({ kind: 'write-file', path: '/tmp/nmstate-kargs123456', content: '' });
      expect(plan.finally).to.deep.equal([{ kind: 'remove-file', id: 'remove-nmstate-kargs-file', path: '/tmp/nmstate-kargs123456', recursive: false, follows: { file: 'pkg/daemon/daemon.go', function: 'PersistNetworkInterfaces' } }]);
      expect(lines(plan)[0]).to.match(/--cleanup$/u);
      // persisting := hostos.IsEL9(); cleanup := hostos.IsEL10(); if !(persisting || cleanup) { return nil }
      const fcos = expand({ operation: 'persist-nic-names', driver: 'rpm-ostree', os: null, root: '/', givenKargs: null }, facts({ el: false, fcos: true }), data);
      expect(fcos.items.map((i) => i.kind)).to.deep.equal(['note']);
    });

    it('persist-nic-names with the kargs given by the scenario writes them instead of running nmstatectl, and says so', () => {
      const plan = expand({ operation: 'persist-nic-names', driver: 'rpm-ostree', os: 'el9', root: '/', givenKargs: ['ifname=eth0:52:54:00:12:34:56'] }, facts(), data);
      expect(lines(plan)).to.deep.equal([]);
      expect(plan.items.map((i) => i.kind)).to.deep.equal(['note', 'write-file', 'note', 'write-file', 'nic-kargs']);
      expect(plan.items[3]).to.deep.include({ content: 'ifname=eth0:52:54:00:12:34:56' });
    });

    it('initialize-control-plane: the per-object fsync setting, the same under both drivers', () => {
      // exec.Command("ostree", "--repo=/sysroot/ostree/repo", "config", "set", "core.per-object-fsync", "true")
      for (const driver of ['rpm-ostree', 'bootc'] as const) expect(lines(expand({ operation: 'initialize-control-plane', driver }, facts(), data))).to.deep.equal(['ostree --repo=/sysroot/ostree/repo config set core.per-object-fsync true']);
    });

    it('update-tuning-args: one kargs call per allowlisted /etc/pivot/kernel-args line (EL: nosmt only)', () => {
      const f = facts({ tuningFile: 'ADD nosmt\nADD mitigations=off\nDELETE quiet\n', cmdline: 'root=x quiet' });
      // exec.Command("rpm-ostree", "kargs", fmt.Sprintf("--append=%s", toAdd.Key))
      expect(lines(expand({ operation: 'update-tuning-args', driver: 'bootc' }, f, data))).to.deep.equal(['rpm-ostree kargs --append=nosmt']);
      // exec.Command("rpm-ostree", "kargs", fmt.Sprintf("--delete=%s", toDelete.Key)) — FCOS tunes anything
      const fcos = facts({ el: false, fcos: true, tuningFile: 'ADD nosmt\nDELETE quiet\n', cmdline: 'root=x quiet' });
      expect(lines(expand({ operation: 'update-tuning-args', driver: 'rpm-ostree' }, fcos, data))).to.deep.equal(['rpm-ostree kargs --append=nosmt', 'rpm-ostree kargs --delete=quiet']);
    });

    it('update-via-container on an enforcing host brackets the two systemd-run calls with setenforce', () => {
      const plan = expand({ operation: 'update-via-container', driver: 'bootc', image: V2 }, facts({ selinuxEnforcing: true, podmanSupportsSigstore: false }), data);
      expect(lines(plan).map((l) => l.split(' -- ')[1] ?? l)).to.deep.equal([
        'setenforce 0',
        // pullArgs = append(pullArgs, "--signature-policy", "/etc/machine-config-daemon/policy-for-old-podman.json")
        `podman pull --authfile /var/lib/kubelet/config.json --signature-policy /etc/machine-config-daemon/policy-for-old-podman.json ${V2}`,
        `podman run --env-file /etc/mco/proxy.env --privileged --pid=host --net=host --rm -v /:/run/host ${V2} rpm-ostree ex deploy-from-self /run/host`,
        'setenforce 1',
      ]);
    });
  });

  describe('every emitted command has the argv shape of its calls.yaml entry', () => {
    it('across the operations above', () => {
      const byId = new Map(calls.calls.map((c) => [c.id, c]));
      const rt = { requestedPackages: ['kernel-rt-core', 'usbguard'], requestedBaseRemovals: ['kernel'] };
      const plans: Plan[] = [];
      for (const driver of ['rpm-ostree', 'bootc'] as const) {
        plans.push(apply(driver, mc({ kargs: ['a'], kernelType: 'realtime', extensions: ['usbguard'] }), mc({ image: V2, kargs: ['b'], extensions: ['sysstat'] }), facts({ booted: rt }), { extensionsSource: { dir: '/x' } }));
        plans.push(apply(driver, mc(), mc({ image: V2 }), facts({ localImage: { id: 'i', repoDigest: V2 }, policyJson: '{}', podmanStore: { graphDriverName: 'o', graphRoot: '/r' } })));
        plans.push(apply(driver, mc(), mc({ image: V2 }), facts({ rpmOstreeContainerFeature: false })));
        plans.push(apply(driver, mc(), mc({ kernelType: 'realtime' })));
        for (const operation of ['status', 'remove-rollback', 'update-tuning-args', 'initialize-control-plane'] as const) plans.push(expand({ operation, driver }, facts({ el: false, fcos: true, tuningFile: 'ADD nosmt\nDELETE quiet', cmdline: 'quiet' }), data));
        plans.push(expand({ operation: 'validate', driver, config: mc({ kargs: ['a'] }) }, facts(), data));
      }
      // The NIC kargs calls are built from nmstatectl's output file.
      for (const os of ['el9', 'el10'] as const) {
        for (const root of ['/', '/rootfs']) {
          const nic = expand({ operation: 'persist-nic-names', driver: 'rpm-ostree', os, root, givenKargs: null }, facts(), data).items.find((i) => i.kind === 'nic-kargs');
          if (nic?.kind !== 'nic-kargs') throw new Error('no nic-kargs item');
          const made = nicKargsCommand(nic, 'a=1 b=2');
          if (made) plans.push({ operation: 'persist-nic-names', driver: 'rpm-ostree', items: [made], onError: null, finally: [] });
        }
      }
      let checked = 0;
      for (const c of plans.flatMap(commands)) {
        if (c.call === null) continue;
        const entry = byId.get(c.call);
        expect(entry, `call id ${c.call}`).to.not.equal(undefined);
        const bootc = entry!.bootc;
        const shape = c.argv[0] === 'bootc' && bootc.equivalent !== 'none' ? (bootc['daemon-command'] ?? bootc.command) : entry!.argv;
        expect(matchesShape(c.argv, shape), `${c.argv.join(' ')} has the shape of ${c.call}`).to.equal(true);
        checked++;
      }
      expect(checked).to.be.greaterThan(20);
      // Every call shape comes out of some operation.
      const seen = new Set(plans.flatMap(commands).map((c) => c.call));
      expect(calls.calls.map((c) => c.id).filter((id) => !seen.has(id))).to.deep.equal([]);
    });
  });
});
