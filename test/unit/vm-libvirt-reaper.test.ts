import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { metadataXml } from '../../vm/libvirt/domain-xml.js';
import { writeDomainRecord } from '../../vm/libvirt/records.js';
import { isPlainLibvirtUri, reapLibvirtOrphans } from '../../vm/libvirt/reaper.js';

/**
 * gc against libvirt, with a stand-in `virsh` (a real executable that answers `list`, `metadata`
 * and `destroy` from files and logs every call): a domain is destroyed only when its bootpath
 * metadata names a dead owner and a valid run dir; records with odd URIs are not followed.
 */
describe('vm/libvirt/reaper', () => {
  let dir: string;
  beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-lvreap-'))));
  afterEach(async () => fs.rm(dir, { recursive: true, force: true }));

  async function deadPid(): Promise<number> {
    const c = spawn('true');
    await new Promise((r) => c.on('exit', r));
    return c.pid ?? 999_999;
  }

  async function fakeVirsh(domains: Record<string, string>): Promise<string> {
    const bin = path.join(dir, 'virsh');
    await fs.mkdir(path.join(dir, 'meta'));
    for (const [name, xml] of Object.entries(domains)) await fs.writeFile(path.join(dir, 'meta', name), xml);
    await fs.writeFile(
      bin,
      [
        '#!/bin/sh',
        `printf '%s\\n' "$*" >> '${dir}/calls.log'`,
        'shift 3 # -q -c URI',
        'case "$1" in',
        `  list) ls '${dir}/meta' ;;`,
        `  metadata) cat '${dir}/meta/'"$2" ;;`,
        '  destroy) exit 0 ;;',
        '  *) exit 1 ;;',
        'esac',
      ].join('\n'),
      { mode: 0o755 },
    );
    return bin;
  }

  it('destroys only orphans whose metadata names a valid run dir', async () => {
    const pid = await deadPid();
    const meta = (runDir: string): string => metadataXml({ runId: 'r', machine: 'm', runDir, boot: 1, owner: { pid, startTime: 1 } }, '');
    const virshBinary = await fakeVirsh({
      'bootpath-r-good': meta('/res/id/runs/r/machine-m'),
      'bootpath-r-root': meta('/'),
      'bootpath-r-empty': meta(''),
      'bootpath-r-word': meta('word'),
    });
    const report = await reapLibvirtOrphans({ stateDir: dir, uris: ['test:///default'], virshBinary });
    expect(report.destroyed.map((d) => d.domain)).to.deep.equal(['bootpath-r-good']);
    expect(report.skipped.map((s) => s.domain).sort()).to.deep.equal(['bootpath-r-empty', 'bootpath-r-root', 'bootpath-r-word']);
    const calls = await fs.readFile(path.join(dir, 'calls.log'), 'utf8');
    expect(calls.split('\n').filter((l) => l.includes('destroy'))).to.deep.equal(['-q -c test:///default destroy bootpath-r-good']);
  });

  it('does not follow a record whose URI is not a plain libvirt URI', async () => {
    const virshBinary = await fakeVirsh({});
    const base = { domain: 'd', runId: 'r', machine: 'm', runDir: '/a/b', ownerPid: await deadPid(), ownerStartTime: 1 };
    await writeDomainRecord(dir, { ...base, uri: '--help' });
    await writeDomainRecord(dir, { ...base, domain: 'e', uri: 'qemu:///system\n-c evil' });
    const report = await reapLibvirtOrphans({ stateDir: dir, virshBinary });
    expect(report).to.deep.equal({ destroyed: [], skipped: [] });
    await fs.access(path.join(dir, 'calls.log')).then(
      () => expect.fail('virsh was called'),
      () => undefined,
    );
    for (const ok of ['qemu:///system', 'qemu:///session', 'qemu+unix:///system?socket=/run/x', 'test:///default']) expect(isPlainLibvirtUri(ok), ok).to.equal(true);
    for (const bad of ['', '-c', 'qemu:///sys tem', 'QEMU:///x', 'qemu:/x']) expect(isPlainLibvirtUri(bad), bad).to.equal(false);
  });
});
