import os from 'node:os';
import { expect } from 'chai';
import { parseCli } from '../../harness/cli/args.js';
import { previewProvisioning, printPlanWithProvisioning } from '../../harness/cli/commands/show-provisioning.js';
import { listScenarioFiles, loadScenarioFiles } from '../../harness/scenario/load.js';
import { loadContext } from '../../harness/scenario/questions.js';
import type { RunPlan } from '../../harness/scenario/plan.js';
import { loadCatalog } from '../../images/catalog.js';

describe('--dry-run --show-provisioning', () => {
  let plans: RunPlan[];
  before(async function () {
    this.timeout(20_000);
    const loaded = await loadScenarioFiles(await listScenarioFiles(), await loadContext());
    const fcos = loaded.flatMap((l) => l.plans).find((p) => p.id.startsWith('real-q4-fcos-to-centos-bootc'))!;
    const bootc = (await loadCatalog()).get('centos-bootc-stream9')!;
    // the same run booted straight from the bootc image: credentials instead of Ignition
    plans = [fcos, { ...fcos, id: 'direct-bootc', machines: fcos.machines.map((m) => ({ ...m, image: bootc })) }];
  });

  it('needs --dry-run', () => {
    expect(() => parseCli(['smoke', '--show-provisioning'])).to.throw(/--show-provisioning goes with --dry-run/);
    expect(parseCli(['smoke', '--dry-run', '--show-provisioning']).showProvisioning).to.equal(true);
    expect(parseCli(['smoke', '--dry-run']).showProvisioning).to.equal(false);
  });

  it('shows per machine the Ignition config or the credentials, validated, with no private key material', async function () {
    this.timeout(30_000);
    const previews = await previewProvisioning(plans);
    expect(previews.map((p) => [p.machine, p.image, p.provisioning.kind, p.check.status])).to.deep.equal([
      ['default', 'fcos-stable', 'ignition', 'valid'],
      ['default', 'centos-bootc-stream9', 'credentials', 'not-applicable'],
    ]);
    let text = '';
    const code = await printPlanWithProvisioning(plans, { stdout: (s: string) => (text += s), stderr: () => undefined, isTTY: false }, false, { insecureNoChecksum: false, offline: false, cacheDir: os.tmpdir() });
    expect(code).to.equal(0);
    expect(text).not.to.match(/PRIVATE KEY|LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZ/);
    expect(text).to.contain('"version": "3.3.0"');
    expect(text).to.contain('/var/home/core/.ssh/authorized_keys (mode 0600, owner core)');
    expect(text).to.contain('check: valid (');
    expect(text).to.match(/tmpfiles\.extra:\n\s+d \/var\/home\/core 0700 core core -/);
    expect(text).to.match(/sysusers\.extra:\n\s+u core - "bootpath login user" \/var\/home\/core \/bin\/bash/);
    expect(text).to.match(/f\+~ \/etc\/ssh\/ssh_host_ed25519_key 0600 root root - <redacted/);
    expect(text).to.match(/# core ALL=\(ALL\) NOPASSWD: ALL/);
    let json = '';
    await printPlanWithProvisioning(plans, { stdout: (s: string) => (json += s), stderr: () => undefined, isTTY: false }, true, { insecureNoChecksum: false, offline: false, cacheDir: os.tmpdir() });
    expect(JSON.parse(json)).to.have.length(2);
    expect(json).not.to.match(/PRIVATE KEY|LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZ/);
  });
});
