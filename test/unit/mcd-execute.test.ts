/**
 * The plan executor against scripted host answers: the daemon's control flow (first error stops
 * the sequence, the deferred rollback from the right point, cleanups always, groups only warn,
 * fallbacks, early returns, the backoff) and what is recorded for each item.
 */
import { expect } from 'chai';
import { loadCalls } from '../../harness/mcd/calls.js';
import { loadGoTypes, type GoTypes } from '../../harness/mcd/daemon-view.js';
import { backoffDelayMs, executePlan, type PlanRunner, type RanCommand } from '../../harness/mcd/execute.js';
import { expand, mcoDataFrom, rebaseRetry, type HostFacts, type MachineConfigOs, type McoData } from '../../harness/mcd/expand.js';
import { rhcosFacts } from '../support/mcd-facts.js';

const V1 = 'localhost/bootpath/testbed:v1';
const V2 = 'localhost/bootpath/testbed:v2';
const names = { uuid: 'u-1', tempSuffix: '42' };

const facts = (over: Partial<HostFacts> = {}): HostFacts => rhcosFacts(V1, { ...over });
const mc = (over: Partial<MachineConfigOs> = {}): MachineConfigOs => ({ image: V1, kargs: [], extensions: [], kernelType: 'default', ...over });

type Answer = Partial<RanCommand>;
/** Answers by the first rule whose pattern matches the command line; unmatched commands succeed silently. */
function scripted(rules: [RegExp, Answer | Answer[]][], opts: { testbed?: boolean } = {}) {
  const ran: string[] = [];
  const slept: number[] = [];
  const count = new Map<RegExp, number>();
  return {
    ran,
    slept,
    runner: (goTypes: GoTypes): PlanRunner => ({
      testbed: opts.testbed ?? true,
      backoffScale: 0.01,
      goTypes,
      async run(argv) {
        const line = argv.join(' ');
        ran.push(line);
        const rule = rules.find(([re]) => re.test(line));
        let a: Answer = {};
        if (rule) {
          const n = count.get(rule[0]) ?? 0;
          count.set(rule[0], n + 1);
          a = Array.isArray(rule[1]) ? (rule[1][Math.min(n, rule[1].length - 1)] ?? {}) : rule[1];
        }
        return { exitCode: 0, stdout: '', stderr: '', durationMs: 1, timedOut: false, ...a };
      },
      async sleep(ms) {
        slept.push(ms);
      },
    }),
  };
}

describe('mcd execute', () => {
  let data: McoData;
  let goTypes: GoTypes;
  before(async () => {
    data = mcoDataFrom(await loadCalls());
    goTypes = await loadGoTypes();
  });

  it('a rebase that keeps failing is retried with the daemon backoff, then rolled back; cleanups run, later items are skipped', async () => {
    const plan = expand({ operation: 'apply-os-changes', driver: 'rpm-ostree', old: mc({ kargs: ['a=1'] }), new: mc({ image: V2, kargs: ['a=2'], extensions: ['usbguard'] }), extensionsSource: { dir: '/run/ext' }, imageSource: 'registry' }, facts(), data, names);
    const host = scripted([[/^rpm-ostree rebase /u, { exitCode: 1, stderr: 'error: Creating importer: failed to invoke method OpenImage\n' }]]);
    const out = await executePlan(plan, host.runner(goTypes));
    expect(out.outcome).to.equal('daemon-error');
    expect(out.error).to.match(/^rpm-ostree rebase --experimental ostree-unverified-registry:localhost\/bootpath\/testbed:v2: exit 1: error: Creating importer/u);
    const rebase = out.items.find((i) => i.id === 'rebase');
    expect(rebase).to.deep.include({ status: 'failed', attempts: 7, call: 'rebase-registry', exitCode: 1, part: 'sequence' });
    // wait.Backoff{Duration: 10s, Factor: 2, Steps: 7, Cap: 60s}: six waits between seven tries.
    expect(host.slept).to.deep.equal([10, 20, 40, 60, 60, 60].map((s) => s * 1000 * 0.01));
    expect(out.items.find((i) => i.id === 'kargs')).to.deep.include({ status: 'skipped', call: 'kargs-delete-if-present-append' });
    // The deferred rollback (rpm-ostree cleanup -p), then the repo file removed.
    const tail = out.items.filter((i) => i.part !== 'sequence').map((i) => `${i.part}:${i.id}:${i.status}`);
    expect(tail).to.deep.equal(['on-error:cleanup-pending-rollback:ok', 'finally:remove-extensions-repo:ok']);
    expect(host.ran.at(-1)).to.equal('rm -f -- /etc/yum.repos.d/coreos-extensions.repo');
    expect(host.ran.filter((l) => l === 'rpm-ostree cleanup -p')).to.have.length(2);
  });

  it('the bootloader update group only warns: a missing unit falls back to podman, and no podman is "not possible", not a daemon error', async () => {
    const plan = expand({ operation: 'apply-os-changes', driver: 'rpm-ostree', old: mc(), new: mc({ image: V2 }), extensionsSource: null, imageSource: 'registry' }, facts({ secureBoot: true }), data, names);
    const host = scripted([
      [/^mokutil/u, { exitCode: 127, stderr: 'sh: 1: mokutil: not found' }],
      [/^systemctl start bootloader-update/u, { exitCode: 5, stderr: 'Failed to start bootloader-update.service: Unit bootloader-update.service not found.' }],
      [/podman/u, { exitCode: 127, stderr: 'podman: not found' }],
    ]);
    const out = await executePlan(plan, host.runner(goTypes));
    expect(out.outcome).to.equal('completed');
    const by = (id: string) => out.items.find((i) => i.id === id);
    expect(by('mokutil')).to.deep.include({ status: 'not-possible', parent: 'bootloader-update' });
    expect(by('bootloader-update')?.message).to.match(/Unit bootloader-update.service not found.*the daemon falls back/u);
    expect(by('podman-images-bootupd')).to.deep.include({ status: 'not-possible', parent: 'bootloader-update' });
    expect(by('podman-pull-bootupd')).to.deep.include({ status: 'not-possible' });
    expect(by('bootupctl-update')).to.deep.include({ status: 'skipped' });
    const group = out.items.find((i) => i.kind === 'group');
    expect(group).to.deep.include({ status: 'warned' });
    expect(by('rebase')).to.deep.include({ status: 'ok', attempts: 1 });
  });

  it('a stand-in that does not model a call is "not possible": the plan stops there without retrying, and the rollback still runs', async () => {
    const booted = { requestedPackages: ['kernel-rt-core'], requestedBaseRemovals: ['kernel'] };
    const plan = expand({ operation: 'apply-os-changes', driver: 'rpm-ostree', old: mc({ kernelType: 'realtime' }), new: mc({ kernelType: 'default' }), extensionsSource: null, imageSource: 'registry' }, facts({ booted }), data, names);
    const host = scripted([[/^rpm-ostree override/u, { exitCode: 1, stderr: 'error: rpm-ostree override is not supported by the bootpath testbed (no base package removal)' }]]);
    const out = await executePlan(plan, host.runner(goTypes));
    expect(out.outcome).to.equal('not-possible');
    expect(out.items.find((i) => i.call === 'override-reset-kernel')).to.deep.include({ status: 'not-possible' });
    expect(out.items.filter((i) => i.part === 'on-error').map((i) => i.call)).to.deep.equal(['cleanup-pending']);
    // Off the testbed the same refusal is the tool's answer: failed.
    const real = await executePlan(plan, scripted([[/^rpm-ostree override/u, { exitCode: 1, stderr: 'error: not supported by the bootpath testbed' }]], { testbed: false }).runner(goTypes));
    expect(real.outcome).to.equal('daemon-error');
  });

  it('persist-nic-names: kargs from the file become one rpm-ostree kargs call; EL10 nmstatectl failing returns without one', async () => {
    const el9 = expand({ operation: 'persist-nic-names', driver: 'rpm-ostree', os: 'el9', root: '/', givenKargs: null }, facts(), data, names);
    const host = scripted([[/^cat -- \/tmp\/nmstate-kargs42$/u, { stdout: 'ifname=eth0:52:54:00:aa:bb:cc' }]]);
    const out = await executePlan(el9, host.runner(goTypes));
    expect(out.outcome).to.equal('completed');
    expect(host.ran).to.include('rpm-ostree kargs --append ifname=eth0:52:54:00:aa:bb:cc');
    expect(out.items.find((i) => i.call === 'kargs-append-nic-el9')).to.deep.include({ status: 'ok' });
    expect(host.ran.at(-1)).to.equal('rm -f -- /tmp/nmstate-kargs42');

    const el10 = expand({ operation: 'persist-nic-names', driver: 'rpm-ostree', os: 'el10', root: '/', givenKargs: null }, facts(), data, names);
    const gone = scripted([[/nmstatectl/u, { exitCode: 1, stderr: 'stamp file not found' }]]);
    const out10 = await executePlan(el10, gone.runner(goTypes));
    expect(out10.outcome).to.equal('completed');
    expect(out10.items.find((i) => i.id === 'nmstatectl')).to.deep.include({ status: 'ignored' });
    expect(out10.items.find((i) => i.id === 'nic-kargs')).to.deep.include({ status: 'skipped' });
    expect(gone.ran.some((l) => l.startsWith('rpm-ostree kargs'))).to.equal(false);
  });

  it('validate: a package set satisfies an extension when every rpm -q succeeds, else the legacy set; none is the daemon error', async () => {
    const plan = expand({ operation: 'validate', driver: 'rpm-ostree', config: mc({ extensions: ['ipsec'] }) }, facts(), data, names);
    const status: [RegExp, Answer] = [/^rpm-ostree status --json$/u, { stdout: JSON.stringify({ deployments: [{ booted: true, 'container-image-reference': `ostree-unverified-registry:${V1}`, checksum: 'c' }] }) }];
    const legacyOnly = scripted([[/^rpm -q openvswitch3.5-ipsec$/u, { exitCode: 1, stdout: 'package openvswitch3.5-ipsec is not installed' }], status]);
    const ok = await executePlan(plan, legacyOnly.runner(goTypes));
    expect(ok.outcome, JSON.stringify(ok.items, null, 1)).to.equal('completed');
    expect(ok.items.find((i) => i.kind === 'package-sets')?.message).to.equal('extension ipsec: package set 2 of 2 is installed');
    const none = await executePlan(plan, scripted([[/^rpm -q /u, { exitCode: 1 }], status]).runner(goTypes));
    expect(none.outcome).to.equal('daemon-error');
    expect(none.error).to.equal('extension "ipsec" verification failed: no valid package set is fully installed');
    // No rpm on the host: the check cannot be made here.
    const noRpm = await executePlan(plan, scripted([[/^rpm -q /u, { exitCode: 127 }], status]).runner(goTypes));
    expect(noRpm.outcome).to.equal('not-possible');
  });

  it('systemd-run of a program the host lacks is "not possible", like a missing command', async () => {
    const plan = expand({ operation: 'update-via-container', driver: 'rpm-ostree', image: V2 }, facts(), data, names);
    const host = scripted([[/^systemd-run /u, { exitCode: 1, stderr: 'Failed to find executable podman: No such file or directory' }]]);
    const out = await executePlan(plan, host.runner(goTypes));
    expect(out.outcome).to.equal('not-possible');
    expect(out.items[0]).to.deep.include({ status: 'not-possible', message: 'podman is not on this host (systemd-run: Failed to find executable podman: No such file or directory)' });
    expect(out.items[1]).to.deep.include({ status: 'skipped', call: 'ex-deploy-from-self', blockedHere: true });
  });

  it('backoff delays follow wait.Backoff and scale', () => {
    expect([0, 1, 2, 3, 4].map((n) => backoffDelayMs(rebaseRetry, n, 1))).to.deep.equal([10000, 20000, 40000, 60000, 60000]);
    expect(backoffDelayMs(rebaseRetry, 0, 0.1)).to.equal(1000);
  });
});
