import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missingFor } from '../../harness/cli/commands/doctor.js';
import { parseCli, USAGE } from '../../harness/cli/args.js';
import { BACKEND_NAMES, BACKENDS, createMachine, DEFAULT_BACKEND, reapAllOrphans } from '../../vm/backends.js';
import { probeHost, type HostFacts } from '../../vm/host-facts.js';
import { LibvirtMachine } from '../../vm/libvirt/machine.js';
import type { MachineSpec } from '../../vm/machine.js';
import { QemuMachine } from '../../vm/qemu/machine.js';

const spec = (runDir: string): MachineSpec => ({
  name: 'm1',
  runDir,
  firmware: 'bios',
  memoryMiB: 256,
  cpus: 1,
  accel: 'tcg',
  provisioning: { kind: 'none' },
});

describe('vm/backends: the backend table', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-backends-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('lists every backend once, with a default among them', () => {
    expect(BACKEND_NAMES).to.deep.equal(Object.keys(BACKENDS));
    expect(BACKEND_NAMES).to.include(DEFAULT_BACKEND);
    for (const name of BACKEND_NAMES) {
      expect(BACKENDS[name].summary, name).to.be.a('string').and.not.equal('');
      expect(BACKENDS[name].requiredFacts, name).to.include('qemuImg');
    }
  });

  it('makes each backend its own machine; the default is QEMU', () => {
    expect(createMachine(spec(path.join(dir, 'r', 'a')))).to.be.instanceOf(QemuMachine);
    const lv = createMachine(spec(path.join(dir, 'r', 'b')), { backend: 'libvirt', runId: 'run 1', libvirtUri: 'qemu:///session' });
    if (!(lv instanceof LibvirtMachine)) throw new Error('backend libvirt did not make a LibvirtMachine');
    expect(lv.uri).to.equal('qemu:///session');
    expect(lv.domainName).to.equal('bootpath-run-1-m1');
  });

  it('the CLI accepts exactly the table’s names, and --help lists them', () => {
    for (const name of BACKEND_NAMES) expect(parseCli(['x', '--backend', name]).backend).to.equal(name);
    expect(parseCli(['x']).backend).to.equal(DEFAULT_BACKEND);
    expect(() => parseCli(['x', '--backend', 'libvrt'])).to.throw(/did you mean 'libvirt'.*expected one of: qemu, libvirt/);
    expect(USAGE).to.contain(`--backend ${BACKEND_NAMES.join('|')}`);
  });

  it('doctor judges readiness per backend from its required facts', async function () {
    this.timeout(20_000);
    const facts: HostFacts = await probeHost({ probeKvm: false });
    const without = (key: keyof HostFacts): HostFacts => ({ ...facts, [key]: { status: 'missing', value: null, detail: `${key} not found` } });
    expect(missingFor('qemu', without('virsh'))).to.deep.equal([]);
    expect(missingFor('libvirt', without('virsh'))).to.deep.equal(['virsh']);
    expect(missingFor('qemu', without('qemu'))).to.deep.equal(['qemu']);
    expect(missingFor('libvirt', without('qemu'))).to.not.include('qemu');
    expect(BACKENDS.qemu.needsLocalQemu).to.equal(true);
    expect(BACKENDS.libvirt.needsLocalQemu).to.equal(false);
  });

  it('gc runs every backend’s reaper; an empty state dir means nothing to do and no virsh call', async () => {
    const reaps = await reapAllOrphans({ stateDir: path.join(dir, 'state') });
    expect(reaps.map((r) => r.backend)).to.deep.equal(BACKEND_NAMES);
    for (const { reap } of reaps) expect([...reap.reaped, ...reap.removed, ...reap.skipped]).to.deep.equal([]);
  });
});
