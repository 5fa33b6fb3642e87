import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  BOOTPATH_METADATA_NS,
  buildDomainXml,
  domainName,
  parseBootpathMetadata,
  userNetArgs,
  xmlEscape,
  type DomainDefinition,
} from '../../vm/libvirt/domain-xml.js';
import { parseLifecycleLine, parseMonitorEventLine } from '../../vm/libvirt/events.js';
import { isOrphan } from '../../vm/libvirt/reaper.js';
import { isSystemUri, libvirtUri, Virsh } from '../../vm/libvirt/virsh.js';

const run = promisify(execFile);

const base: DomainDefinition = {
  name: 'bootpath-run-1-m1',
  metadata: { runId: 'run-1', machine: 'm1', runDir: '/runs/r1/m1', boot: 1, owner: { pid: 4242, startTime: 987654 } },
  accel: 'tcg',
  memoryMiB: 512,
  cpus: 2,
  overlay: '/runs/r1/m1/overlay.qcow2',
  consoleLog: '/runs/r1/m1/console-1.log',
  hostPort: 22222,
  destroyOnReboot: true,
  runAs: { uid: 0, gid: 0 },
};

/** xmllint --noout on the XML; rejects with xmllint's message when it is not well-formed. */
async function xmllint(xml: string): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-xml-'));
  try {
    const file = path.join(dir, 'domain.xml');
    await fs.writeFile(file, xml);
    await run('xmllint', ['--noout', file]);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function virtXmlValidate(xml: string): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-xml-'));
  try {
    const file = path.join(dir, 'domain.xml');
    await fs.writeFile(file, xml);
    await run('virt-xml-validate', [file, 'domain']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe('vm/libvirt/domain-xml', () => {
  it('is well-formed XML (xmllint), for BIOS + kernel boot and for UEFI + Ignition + cloud-init', async () => {
    await xmllint(buildDomainXml(base));
    await xmllint(
      buildDomainXml({
        ...base,
        uefi: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/runs/r1/m1/OVMF_VARS.fd' },
        ignitionConfig: '/runs/r1/m1/config.ign',
        seedIso: '/runs/r1/m1/seed.iso',
        extraDisks: ['/runs/r1/m1/extra-1.qcow2'],
        directKernel: { kernel: '/k/vmlinuz', initrd: '/k/initrd', append: 'console=ttyS0 a="b<c>&d"' },
      }),
    );
    // A broken document is caught (the check can fail).
    const err = await xmllint(buildDomainXml(base).replace('</devices>', '')).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
  });

  it('validates against libvirt’s own domain schema (virt-xml-validate)', async function () {
    if (!existsSync('/usr/bin/virt-xml-validate')) this.skip(); // libvirt-clients not installed
    await virtXmlValidate(buildDomainXml({ ...base, ignitionConfig: '/r/config.ign', seedIso: '/r/seed.iso', uefi: { code: '/c.fd', vars: '/r/v.fd' } }));
  });

  it('forwards SSH from 127.0.0.1 only through the passed-through user-mode NIC', () => {
    const xml = buildDomainXml(base);
    expect(xml).to.contain(`<qemu:arg value='user,id=bpnet0,hostfwd=tcp:127.0.0.1:22222-:22'/>`);
    expect(xml).to.contain(`xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'`);
    expect(xml).not.to.match(/hostfwd=tcp::|0\.0\.0\.0/);
    expect(userNetArgs(2200, 8080, 'q35')).to.deep.equal(['-netdev', 'user,id=bpnet0,hostfwd=tcp:127.0.0.1:2200-:8080', '-device', 'virtio-net-pci,netdev=bpnet0,bus=pcie.0,addr=0x10']);
    expect(userNetArgs(null, 22, 'pc')).to.deep.equal(['-netdev', 'user,id=bpnet0', '-device', 'virtio-net-pci,netdev=bpnet0,bus=pci.0,addr=0x1f']);
    expect(() => buildDomainXml({ ...base, hostPort: 70000 })).to.throw(/invalid host port/);
  });

  it('passes Ignition as a fw_cfg sysinfo entry', () => {
    const xml = buildDomainXml({ ...base, ignitionConfig: '/runs/r1/m1/config.ign' });
    expect(xml).to.match(/<sysinfo type='fwcfg'>\s*<entry name='opt\/com\.coreos\/config' file='\/runs\/r1\/m1\/config\.ign'\/>\s*<\/sysinfo>/);
    expect(buildDomainXml(base)).not.to.contain('fwcfg');
  });

  it('boots UEFI from a read-only pflash loader with the per-machine NVRAM copy', () => {
    const xml = buildDomainXml({ ...base, uefi: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/runs/r1/m1/OVMF_VARS.fd' } });
    expect(xml).to.contain(`<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>`);
    expect(xml).to.contain('<nvram>/runs/r1/m1/OVMF_VARS.fd</nvram>');
    expect(buildDomainXml(base)).not.to.contain('<loader');
  });

  it('writes the serial console to the boot’s file, truncated at start', () => {
    const xml = buildDomainXml({ ...base, consoleLog: '/runs/r1/m1/console-3.log' });
    expect(xml).to.match(/<serial type='file'>\s*<source path='\/runs\/r1\/m1\/console-3\.log' append='off'\/>\s*<target port='0'\/>/);
  });

  it('uses the overlay as a plain file disk, the seed as a CD-ROM, and ends the domain on reboot', () => {
    const xml = buildDomainXml({ ...base, seedIso: '/runs/r1/m1/seed.iso', extraDisks: ['/e1.qcow2', '/e2.qcow2'] });
    expect(xml).to.match(/<disk type='file' device='disk'>\s*<driver name='qemu' type='qcow2' discard='unmap'\/>\s*<source file='\/runs\/r1\/m1\/overlay\.qcow2'\/>\s*<target dev='vda' bus='virtio'\/>/);
    expect(xml).to.match(/<source file='\/e2\.qcow2'\/>\s*<target dev='vdc' bus='virtio'\/>\s*<serial>bootpath-extra-2<\/serial>/);
    expect(xml).to.match(/<disk type='file' device='cdrom'>[\s\S]*<source file='\/runs\/r1\/m1\/seed\.iso'\/>\s*<target dev='sda' bus='sata'\/>\s*<readonly\/>/);
    expect(xml).not.to.contain('<pool');
    expect(xml).to.contain('<on_reboot>destroy</on_reboot>');
    expect(buildDomainXml({ ...base, destroyOnReboot: false })).to.contain('<on_reboot>restart</on_reboot>');
  });

  it('maps memory, vcpus, accelerator and kernel boot; runs QEMU as the given uid without relabeling', () => {
    const xml = buildDomainXml({ ...base, directKernel: { kernel: '/k/vmlinuz', initrd: '/k/initrd', append: 'console=ttyS0 x=<&>' } });
    expect(xml).to.match(/^<domain type='qemu'/);
    expect(xml).to.contain(`<memory unit='MiB'>512</memory>`);
    expect(xml).to.contain('<vcpu>2</vcpu>');
    expect(xml).to.contain(`<cpu mode='maximum'/>`);
    expect(xml).to.contain('<kernel>/k/vmlinuz</kernel>');
    expect(xml).to.contain('<initrd>/k/initrd</initrd>');
    expect(xml).to.contain('<cmdline>console=ttyS0 x=&lt;&amp;&gt;</cmdline>');
    expect(xml).not.to.contain(`<boot dev='hd'/>`);
    expect(xml).to.match(/<seclabel type='static' model='dac' relabel='no'>\s*<label>\+0:\+0<\/label>/);
    const { runAs: _runAs, ...noRunAs } = base;
    const kvm = buildDomainXml({ ...noRunAs, accel: 'kvm' });
    expect(kvm).not.to.contain('<seclabel');
    expect(kvm).to.match(/^<domain type='kvm'/);
    expect(kvm).to.contain(`<cpu mode='host-passthrough'/>`);
    expect(kvm).to.contain(`<boot dev='hd'/>`);
  });

  it('names domains bootpath-<run>-<machine> and round-trips bootpath’s metadata', () => {
    expect(domainName('Run 7', 'fcos')).to.equal('bootpath-run-7-fcos');
    const weird = { ...base.metadata, runDir: `/tmp/a&b<'c">/m1` };
    const xml = buildDomainXml({ ...base, metadata: weird });
    expect(xml).to.contain(`xmlns:bootpath='${BOOTPATH_METADATA_NS}'`);
    expect(parseBootpathMetadata(xml)).to.deep.equal(weird);
    // What `virsh metadata <dom> <ns>` prints: no prefix, no xmlns.
    const virshOut = `<machine>\n  <runId>r</runId>\n  <machineName>m</machineName>\n  <runDir>/d</runDir>\n  <boot>2</boot>\n  <ownerPid>10</ownerPid>\n  <ownerStartTime>20</ownerStartTime>\n</machine>`;
    expect(parseBootpathMetadata(virshOut)).to.deep.equal({ runId: 'r', machine: 'm', runDir: '/d', boot: 2, owner: { pid: 10, startTime: 20 } });
    expect(parseBootpathMetadata('<machine><runId>r</runId></machine>')).to.equal(null);
    expect(xmlEscape(`a&<>"'`)).to.equal('a&amp;&lt;&gt;&quot;&apos;');
  });
});

describe('vm/libvirt events, URIs and orphans', () => {
  it('parses virsh lifecycle and QEMU monitor event lines', () => {
    expect(parseLifecycleLine(`event 'lifecycle' for domain 'bootpath-r-m': Stopped Destroyed`)).to.deep.equal({
      kind: 'lifecycle',
      domain: 'bootpath-r-m',
      event: 'Stopped',
      detail: 'Destroyed',
    });
    expect(parseLifecycleLine(`2026-11-26 17:24:44.960+0000: event 'lifecycle' for domain 'd': Shutdown Finished after guest request`)?.detail).to.equal(
      'Finished after guest request',
    );
    expect(parseLifecycleLine(`event 'reboot' for domain 'd'`)).to.equal(null);
    expect(parseMonitorEventLine(`event SHUTDOWN at 1795714447.117136 for domain 'bootpath-r-m': {"guest":true,"reason":"guest-reset"}`)).to.deep.equal({
      kind: 'qmp',
      domain: 'bootpath-r-m',
      event: 'SHUTDOWN',
      data: { guest: true, reason: 'guest-reset' },
    });
    expect(parseMonitorEventLine(`2026-11-26 17:24:44.961+0000: event STOP for domain 'd': <null>`)).to.deep.equal({ kind: 'qmp', domain: 'd', event: 'STOP', data: null });
  });

  it('resolves the connection URI: option, then BOOTPATH_LIBVIRT_URI, then qemu:///system; always passes -c', () => {
    expect(libvirtUri(undefined, {})).to.equal('qemu:///system');
    expect(libvirtUri(undefined, { BOOTPATH_LIBVIRT_URI: 'qemu:///session' })).to.equal('qemu:///session');
    expect(libvirtUri('qemu+unix:///system', { BOOTPATH_LIBVIRT_URI: 'qemu:///session' })).to.equal('qemu+unix:///system');
    expect(isSystemUri('qemu:///system')).to.equal(true);
    expect(isSystemUri('qemu:///session')).to.equal(false);
    expect(new Virsh('qemu:///session').args(['list', '--name'])).to.deep.equal(['-q', '-c', 'qemu:///session', 'list', '--name']);
  });

  it('treats a domain as an orphan only when it has bootpath metadata and its owner is gone', () => {
    const meta = base.metadata;
    expect(isOrphan(meta, () => false)).to.equal(true);
    expect(isOrphan(meta, () => true)).to.equal(false);
    expect(isOrphan(null, () => false)).to.equal(false);
    expect(isOrphan({ ...meta, owner: { pid: process.pid, startTime: 1 } })).to.equal(true); // pid reused: start time differs
  });
});
