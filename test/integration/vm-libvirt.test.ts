/**
 * The libvirt backend against a real libvirtd (qemu:///system, started by test/support/libvirtd.ts
 * when none runs) and the tiny busybox guest under TCG: console capture, the 127.0.0.1-only SSH
 * forward, transparent restarts on guest reboot, panic and death detection, ACPI power-off,
 * teardown that leaves no domain, and the metadata-based orphan reaper.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createMachine, reapAllOrphans } from '../../vm/backends.js';
import { runChecked, runCommand } from '../../vm/exec.js';
import { BOOTPATH_METADATA_NS, parseBootpathMetadata } from '../../vm/libvirt/domain-xml.js';
import type { LibvirtMachine } from '../../vm/libvirt/machine.js';
import { readDomainRecords } from '../../vm/libvirt/records.js';
import { reapLibvirtOrphans } from '../../vm/libvirt/reaper.js';
import type { MachineEvent } from '../../vm/machine.js';
import { processStartTime } from '../../vm/proc.js';
import { liveProcessCount } from '../../vm/reaper.js';
import { ensureLibvirtd, type LibvirtdHandle } from '../support/libvirtd.js';
import { expectPanicFailsFast, expectRebootRestartsOnSameOverlay, failureOf, sha256 } from '../support/machine-contract.js';
import { createTinyBaseDisk, ensureTinyGuest, tinyGuestSpec, TINY_READY, type TinyGuest, type TinyGuestMode } from '../support/tiny-guest.js';

function virsh(uri: string, ...args: string[]): Promise<string> {
  return runChecked('virsh', ['-q', '-c', uri, ...args]).then((r) => r.stdout);
}


/** A pid + start time of a process that has exited: an owner that is certainly gone. */
async function deadOwner(): Promise<{ pid: number; startTime: number }> {
  const child = spawn('sleep', ['0.2'], { stdio: 'ignore' });
  const pid = child.pid ?? 0;
  const startTime = processStartTime(pid) ?? 1;
  await new Promise((r) => child.once('exit', r));
  return { pid, startTime };
}

describe('vm: libvirt machines with the tiny guest (TCG)', function () {
  this.timeout(120_000);
  let daemon: LibvirtdHandle | null = null;
  let uri = '';
  let guest: TinyGuest;
  let root: string;
  let machines: LibvirtMachine[] = [];
  const runId = `lvit${process.pid}`;
  const stateDir = (): string => path.join(root, 'state');

  before(async function () {
    this.timeout(600_000);
    try {
      daemon = await ensureLibvirtd();
    } catch (err) {
      console.log(`      SKIP: libvirtd cannot run here: ${(err as Error).message}`);
      this.skip();
    }
    uri = daemon.uri;
    guest = await ensureTinyGuest();
  });

  after(async () => {
    await daemon?.stop();
  });

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-libvirt-it-'));
    machines = [];
  });

  afterEach(async () => {
    for (const m of machines) await m.destroy();
    // Whatever an assertion left behind: every domain whose metadata names this test's root.
    for (const name of (await virsh(uri, 'list', '--name')).split('\n').filter(Boolean)) {
      const meta = await runCommand('virsh', ['-q', '-c', uri, 'metadata', name, BOOTPATH_METADATA_NS]);
      if (meta.code === 0 && parseBootpathMetadata(meta.stdout)?.runDir.startsWith(root)) await runCommand('virsh', ['-c', uri, 'destroy', name]);
    }
    await fs.rm(root, { recursive: true, force: true });
  });

  function machine(name: string, mode: TinyGuestMode, extra: { baseDisk?: string; owner?: { pid: number; startTime: number } } = {}): LibvirtMachine {
    const spec = tinyGuestSpec(guest, { name, runDir: path.join(root, 'run', name), mode, ...(extra.baseDisk ? { baseDisk: extra.baseDisk } : {}) });
    const m = createMachine(spec, { backend: 'libvirt', runId, stateDir: stateDir(), libvirtUri: uri }) as LibvirtMachine;
    if (extra.owner) (m as unknown as { owner: { pid: number; startTime: number } }).owner = extra.owner;
    machines.push(m);
    return m;
  }

  it('boots a transient domain, captures the console, forwards 127.0.0.1 only, powers off via ACPI and leaves no domain', async () => {
    const base = await createTinyBaseDisk(path.join(root, 'base.raw'));
    const before = await sha256(base);
    const m = machine('console', 'normal', { baseDisk: base });
    const t0 = Date.now();
    await m.start();
    const tStarted = Date.now() - t0;
    const match = await m.waitForConsole(/TINYGUEST-READY boot_id=(\S+)/, { timeoutMs: 60_000, signal: m.failureSignal });
    console.log(`      virsh create ${tStarted} ms; start → ready marker ${Date.now() - t0} ms`);
    expect(match[1]).to.match(/^[0-9a-f-]{36}$/);
    expect(m.consoleLog).to.equal(path.join(root, 'run', 'console', 'console-1.log'));
    expect(await fs.readFile(m.consoleLog, 'utf8')).to.contain('TINYGUEST-READY');
    expect(m.consoleTail(5)).to.contain('TINYGUEST-READY');

    // Transient, named bootpath-<run>-<machine>, with bootpath's metadata.
    expect(m.domainName).to.equal(`bootpath-${runId}-console`);
    expect(await virsh(uri, 'list', '--name')).to.contain(m.domainName);
    expect((await virsh(uri, 'dominfo', m.domainName)).replace(/ +/g, ' ')).to.match(/Persistent: no/);
    const meta = parseBootpathMetadata(await virsh(uri, 'metadata', m.domainName, BOOTPATH_METADATA_NS));
    expect(meta).to.deep.include({ runId, machine: 'console', runDir: m.spec.runDir, boot: 1 });
    expect(meta?.owner.pid).to.equal(process.pid);
    expect((await readDomainRecords(stateDir())).map((r) => r.record?.domain)).to.deep.equal([m.domainName]);
    // Its QEMU is in the process-wide registry, so Ctrl-C / process exit kill it synchronously.
    expect(liveProcessCount()).to.equal(1);

    // The forward: one listener, on 127.0.0.1 only, held by the domain's QEMU.
    const port = m.sshEndpoint?.port;
    expect(m.sshEndpoint?.host).to.equal('127.0.0.1');
    const ss = await runChecked('ss', ['-Hltnp', `sport = :${port}`]);
    const listeners = ss.stdout.trim().split('\n').filter(Boolean);
    expect(listeners, ss.stdout).to.have.length(1);
    expect(listeners[0]).to.contain(`127.0.0.1:${port}`);
    expect(listeners[0]).to.match(/qemu-system/);
    const banner = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(port ?? 0, '127.0.0.1');
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
      setTimeout(() => (sock.destroy(), resolve(data)), 5000);
    });
    expect(banner).to.contain('SSH-2.0-TinyGuest');

    const t1 = Date.now();
    await m.powerOff(30_000);
    console.log(`      virsh shutdown (ACPI) → domain gone ${Date.now() - t1} ms`);
    expect(Date.now() - t1).to.be.lessThan(25_000); // the guest handled the power button; no destroy fallback
    expect(m.running).to.equal(false);
    expect(m.failureSignal.aborted).to.equal(false);
    expect(await fs.readFile(m.consoleLog, 'utf8')).to.contain('TINYGUEST: power button');
    expect(liveProcessCount()).to.equal(0);
    await m.destroy();
    expect(await virsh(uri, 'list', '--all', '--name')).to.not.contain(m.domainName);
    expect(existsSync(path.join(m.spec.runDir, 'overlay.qcow2'))).to.equal(false);
    expect(await readDomainRecords(stateDir())).to.deep.equal([]);
    expect(await sha256(base)).to.equal(before);
    await m.destroy(); // idempotent
  });

  it('restarts a new domain on the same overlay when the guest reboots (bootCount 2); the base disk is never written', async () => {
    const base = await createTinyBaseDisk(path.join(root, 'base.raw'));
    const m = machine('reboot', 'reboot-once', { baseDisk: base });
    await expectRebootRestartsOnSameOverlay(m, base, async () => {
      const meta = parseBootpathMetadata(await virsh(uri, 'metadata', m.domainName, BOOTPATH_METADATA_NS));
      expect(meta?.boot).to.equal(2);
    });
    expect(await virsh(uri, 'list', '--all', '--name')).to.not.contain(m.domainName);
  });

  it('aborts failureSignal with kind panic within 2 s of a kernel panic', async () => {
    await expectPanicFailsFast(machine('panic', 'panic'));
  });

  it('treats a guest poweroff as powered off, not as a failure', async () => {
    const m = machine('selfoff', 'poweroff');
    const events: string[] = [];
    m.on((e) => events.push(e.type));
    await m.start();
    const err = await m.waitForConsole(/never-printed/, { timeoutMs: 60_000 }).then(
      () => new Error('matched unexpectedly'),
      (e: unknown) => e as Error,
    );
    expect(err.message).to.match(/machine selfoff is powered off; still waiting for \/never-printed\//);
    expect(events).to.deep.equal(['boot', 'guest-shutdown']);
    expect(m.running).to.equal(false);
    expect(m.failureSignal.aborted).to.equal(false);
    expect(await virsh(uri, 'list', '--all', '--name')).to.not.contain(m.domainName);
  });

  it('reports a domain destroyed behind its back as died, with the console tail', async () => {
    const m = machine('death', 'normal');
    const died: MachineEvent[] = [];
    m.on((e) => e.type === 'died' && died.push(e));
    await m.start();
    await m.waitForConsole(TINY_READY, { timeoutMs: 60_000, signal: m.failureSignal });
    const t0 = Date.now();
    await virsh(uri, 'destroy', m.domainName);
    const failure = await failureOf(m.failureSignal);
    console.log(`      virsh destroy → failureSignal ${Date.now() - t0} ms`);
    expect(Date.now() - t0).to.be.lessThan(5000);
    expect(failure.kind).to.equal('died');
    expect(failure.message).to.match(/machine death died: libvirt domain bootpath-\S+-death stopped \(Stopped Destroyed|found gone by polling\)/);
    expect(failure.message).to.contain('host-signal');
    expect(failure.message).to.contain('TINYGUEST-READY');
    expect(failure.consoleExcerpt).to.contain('TINYGUEST-READY');
    expect(died).to.have.length(1);
    expect(m.running).to.equal(false);
  });

  it('reaps a domain whose owner process is gone, found by metadata; leaves live owners alone', async () => {
    const orphan = machine('orphan', 'normal', { owner: await deadOwner() });
    const live = machine('live', 'normal');
    await orphan.start();
    await live.start();
    const report = await reapLibvirtOrphans({ stateDir: stateDir() });
    expect(report.destroyed).to.deep.equal([{ uri, domain: orphan.domainName, runDir: orphan.spec.runDir }]);
    expect(report.skipped.map((s) => s.domain)).to.include(live.domainName);
    const names = await virsh(uri, 'list', '--name');
    expect(names).to.not.contain(orphan.domainName);
    expect(names).to.contain(live.domainName);
    // The machine whose domain was reaped notices.
    expect((await failureOf(orphan.failureSignal)).kind).to.equal('died');
    // Every backend's reaper (what `gc` calls) finds nothing more to do.
    const again = await reapAllOrphans({ stateDir: stateDir() });
    expect(again.flatMap((b) => b.reap.reaped)).to.deep.equal([]);
    expect((await readDomainRecords(stateDir())).map((r) => r.record?.domain)).to.deep.equal([live.domainName]);
  });
});
