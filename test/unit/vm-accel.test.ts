import { expect } from 'chai';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runChecked } from '../../vm/exec.js';
import { KVM_PROBE_OK_MARKER, kvmProbeBootSector, probeKvm, timeoutScaleFor } from '../../vm/accel.js';
import { repoRoot } from '../../core/paths.js';

describe('vm/accel', () => {
  it('ships a valid 512-byte boot sector that prints the OK marker', () => {
    const sector = kvmProbeBootSector();
    expect(sector.length).to.equal(512);
    expect([sector[510], sector[511]]).to.deep.equal([0x55, 0xaa]);
    expect(sector.toString('latin1')).to.contain(`${KVM_PROBE_OK_MARKER}\n`);
  });

  it('matches vm/kvm-probe.S when binutils is installed', async function () {
    if (!existsSync('/usr/bin/as') || !existsSync('/usr/bin/ld')) this.skip();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-probe-asm-'));
    try {
      await runChecked('as', ['--32', path.join(repoRoot, 'vm/kvm-probe.S'), '-o', path.join(dir, 'p.o')]);
      await runChecked('ld', ['-m', 'elf_i386', '-Ttext=0x7c00', '--oformat=binary', path.join(dir, 'p.o'), '-o', path.join(dir, 'p.bin')]);
      expect((await fs.readFile(path.join(dir, 'p.bin'))).equals(kvmProbeBootSector())).to.equal(true);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing KVM device without starting QEMU', async () => {
    const res = await probeKvm({ kvmDevice: '/nonexistent/kvm' });
    expect(res.ok).to.equal(false);
    expect(res.detail).to.equal('/nonexistent/kvm does not exist');
  });

  it('scales timeouts for TCG, with an override', () => {
    expect(timeoutScaleFor('kvm')).to.equal(1);
    expect(timeoutScaleFor('tcg', {})).to.equal(5);
    expect(timeoutScaleFor('tcg', { BOOTPATH_TCG_TIMEOUT_SCALE: '8' })).to.equal(8);
    expect(timeoutScaleFor('tcg', { BOOTPATH_TCG_TIMEOUT_SCALE: 'x' })).to.equal(5);
  });
});
