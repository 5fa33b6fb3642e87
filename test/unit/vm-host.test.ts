import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOverlay, overlayCreateArgs, parseImageInfo } from '../../vm/disk.js';
import { findOvmf, parseMeminfo, parseQemuVersion, probeHost, requireQemu } from '../../vm/host-facts.js';
import { isHostfwdBindFailure, PortAllocator } from '../../vm/ports.js';

describe('vm/host-facts', () => {
  it('parses versions and meminfo', () => {
    expect(parseQemuVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n')).to.equal('7.2.22');
    expect(parseQemuVersion('qemu-img version 8.0.0\n')).to.equal('8.0.0');
    expect(parseMeminfo('MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2048000 kB\n')).to.deep.equal({ totalMiB: 23437, availableMiB: 2000 });
  });

  it('finds OVMF pairs only when code and vars both exist', () => {
    expect(findOvmf((p) => p.endsWith('_4M.fd'))).to.deep.equal({ code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' });
    expect(findOvmf((p) => p.includes('CODE'))).to.equal(null);
  });

  it('probes this host (QEMU present, with remedies for what is missing)', async function () {
    this.timeout(20_000);
    const facts = await probeHost({ probeKvm: false });
    expect(facts.qemu.status).to.equal('ok');
    expect(facts.qemu.value?.version).to.match(/^\d+\.\d+/);
    expect(facts.qemuImg.status).to.equal('ok');
    expect(facts.cpus.value).to.be.greaterThan(0);
    expect(facts.memory.value.availableMiB).to.be.greaterThan(0);
    for (const fact of Object.values(facts)) if (fact.status !== 'ok') expect(fact.remedy, fact.detail).to.be.a('string');
    const req = await requireQemu();
    expect(req.qemu).to.match(/qemu-system-x86_64$/);
  });
});

describe('vm/ports', () => {
  it('never hands out a port twice while it is held', () => {
    const a = new PortAllocator({ min: 30000, max: 30004 });
    const got = [a.acquire(), a.acquire(), a.acquire(), a.acquire(), a.acquire()];
    expect(new Set(got).size).to.equal(5);
    expect(() => a.acquire()).to.throw(/in use by this process/);
    a.release(got[2] ?? 0);
    expect(a.acquire()).to.equal(got[2]);
  });

  it('recognises QEMU\'s forward bind failure', () => {
    expect(isHostfwdBindFailure("qemu-system-x86_64: -netdev user,id=n0,hostfwd=tcp:127.0.0.1:24555-:22: Could not set up host forwarding rule 'tcp:127.0.0.1:24555-:22'")).to.equal(true);
    expect(isHostfwdBindFailure('qemu-system-x86_64: -drive …: Could not open')).to.equal(false);
  });
});

describe('vm/disk', () => {
  let dir: string;
  beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-disk-'))));
  afterEach(async () => fs.rm(dir, { recursive: true, force: true }));

  it('refuses relative backing paths in the argv', () => {
    expect(() => overlayCreateArgs({ base: 'base.qcow2', baseFormat: 'qcow2', overlay: '/x/o.qcow2' })).to.throw(/absolute/);
    expect(overlayCreateArgs({ base: '/b.raw', baseFormat: 'raw', overlay: '/o.qcow2' }, 1024)).to.deep.equal([
      'create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', '-b', '/b.raw', '-F', 'raw', '/o.qcow2', '1024',
    ]);
  });

  it('parses qemu-img info JSON', () => {
    expect(parseImageInfo('{"virtual-size": 1048576, "filename": "o.qcow2", "format": "qcow2", "actual-size": 200704, "backing-filename": "/b.raw", "backing-filename-format": "raw"}')).to.deep.equal({
      filename: 'o.qcow2', format: 'qcow2', virtualSize: 1048576, actualSize: 200704, backingFilename: '/b.raw', backingFormat: 'raw',
    });
  });

  it('creates an overlay with an absolute backing path, grows it, and leaves the base untouched', async function () {
    this.timeout(20_000);
    const base = path.join(dir, 'base.raw');
    await fs.writeFile(base, Buffer.alloc(1024 * 1024, 7));
    const before = createHash('sha256').update(await fs.readFile(base)).digest('hex');
    await fs.mkdir(path.join(dir, 'm'));
    const cwd = process.cwd();
    process.chdir(dir);
    let info;
    try {
      info = await createOverlay({ base: 'base.raw', baseFormat: 'raw', overlay: path.join(dir, 'm', 'overlay.qcow2'), sizeGiB: 1 });
    } finally {
      process.chdir(cwd);
    }
    expect(info.backingFilename).to.equal(base);
    expect(info.backingFormat).to.equal('raw');
    expect(info.virtualSize).to.equal(1024 ** 3);
    const small = await createOverlay({ base, baseFormat: 'raw', overlay: path.join(dir, 'm', 'o2.qcow2'), sizeGiB: 0.0001 });
    expect(small.virtualSize).to.equal(1024 * 1024);
    expect(createHash('sha256').update(await fs.readFile(base)).digest('hex')).to.equal(before);
    const wrong = await createOverlay({ base, baseFormat: 'qcow2', overlay: path.join(dir, 'm', 'o3.qcow2') }).catch((e: unknown) => e);
    expect((wrong as Error).message).to.match(/is raw, but the catalog says qcow2/);
  });
});
