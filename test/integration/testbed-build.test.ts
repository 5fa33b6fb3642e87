/**
 * Builds the testbed image (or hits the cache) and checks its structure without booting it: the disk
 * is converted to raw in a temp dir and its ext4 partitions are read with debugfs at their partition
 * offsets (no mounts, no loop devices).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { buildTestbed, testbedInputsKey, type TestbedArtifact } from '../../images/testbed/builder.js';
import { cacheDir } from '../../core/paths.js';

interface SfdiskPartition {
  start: number;
  size: number;
  type: string;
  bootable?: boolean;
}

function debugfs(fsImage: string, request: string): string {
  return execFileSync('debugfs', ['-R', request, fsImage], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
}

/** Names in a directory (debugfs `ls -p`: /inode/mode/uid/gid/name/size/). */
function ls(fsImage: string, dir: string): Array<{ name: string; mode: number }> {
  return debugfs(fsImage, `ls -p ${dir}`)
    .split('\n')
    .map((l) => l.split('/'))
    .filter((f) => f.length >= 6 && f[5] !== '.' && f[5] !== '..')
    .map((f) => ({ name: f[5] ?? '', mode: Number.parseInt(f[2] ?? '0', 8) }));
}

describe('testbed image build', function () {
  this.timeout(900_000);
  let artifact: TestbedArtifact;
  let tmp: string;
  let bootFs: string;
  let rootFs: string;
  let deployDir: string;

  before(async function () {
    artifact = await buildTestbed({ cacheDir: cacheDir(), log: (l) => console.log(`      ${l}`) });
    tmp = mkdtempSync(path.join(os.tmpdir(), 'testbed-test-'));
    const raw = path.join(tmp, 'disk.raw');
    execFileSync('qemu-img', ['convert', '-O', 'raw', artifact.diskPath, raw]);
    const table = JSON.parse(execFileSync('sfdisk', ['-J', raw], { encoding: 'utf8' })) as {
      partitiontable: { label: string; partitions: SfdiskPartition[] };
    };
    const parts = table.partitiontable.partitions;
    expect(table.partitiontable.label).to.equal('dos');
    expect(parts).to.have.length(2);
    bootFs = `${raw}?offset=${(parts[0]?.start ?? 0) * 512}`;
    rootFs = `${raw}?offset=${(parts[1]?.start ?? 0) * 512}`;
    const deploys = ls(rootFs, '/ostree/deploy/default/deploy').map((e) => e.name);
    const dir = deploys.find((n) => /^[0-9a-f]{64}\.0$/.test(n));
    expect(dir, `deployments: ${deploys.join(', ')}`).to.be.a('string');
    deployDir = `/ostree/deploy/default/deploy/${dir}`;
  });

  after(function () {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('is an MBR disk: bootable p1 ext4 "boot", p2 ext4 "root"', function () {
    const raw = path.join(tmp, 'disk.raw');
    const parts = (JSON.parse(execFileSync('sfdisk', ['-J', raw], { encoding: 'utf8' })) as { partitiontable: { partitions: SfdiskPartition[] } })
      .partitiontable.partitions;
    expect(parts[0]).to.include({ start: 2048, type: '83', bootable: true });
    expect(parts[1]?.type).to.equal('83');
    expect(debugfs(bootFs, 'stats')).to.match(/Filesystem volume name:\s+boot\n/);
    expect(debugfs(rootFs, 'stats')).to.match(/Filesystem volume name:\s+root\n/);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', artifact.diskPath], { encoding: 'utf8' })) as { format: string };
    expect(info.format).to.equal('qcow2');
  });

  it('boots the default ostree deployment through GRUB -> syslinux.cfg with the testbed cmdline', function () {
    expect(debugfs(bootFs, 'cat /grub/grub.cfg')).to.contain('syslinux_source /syslinux/syslinux.cfg');
    const cfg = debugfs(bootFs, 'cat /loader/syslinux.cfg');
    expect(cfg).to.match(/APPEND .*root=LABEL=root rw console=ttyS0,115200/);
    expect(cfg).to.match(/ostree=\/ostree\/boot\.\d\/default\//);
    expect(cfg).not.to.match(/\bquiet\b/);
    // first boot as on FCOS: GRUB expands $ignition_firstboot while the stamp file exists
    expect(cfg).to.match(/APPEND .*ignition\.platform\.id=qemu \$ignition_firstboot/);
    expect(debugfs(bootFs, 'cat /grub/grub.cfg')).to.match(/if \[ -f \/ignition\.firstboot \]; then set ignition_firstboot="ignition\.firstboot"; fi/);
    expect(ls(bootFs, '/').map((e) => e.name)).to.include('ignition.firstboot');
  });

  it('has the three images as refs in the OSTree repo and exactly one deployment', function () {
    expect(ls(rootFs, '/ostree/repo/refs/heads/bootpath/registry/testbed').map((e) => e.name).sort()).to.deep.equal(['v1', 'v2']);
    expect(ls(rootFs, '/ostree/repo/refs/heads/bootpath/registry/testbed-next').map((e) => e.name)).to.deep.equal(['10']);
    const deploys = ls(rootFs, '/ostree/deploy/default/deploy').map((e) => e.name);
    expect(deploys.filter((n) => /\.0$/.test(n))).to.have.length(1);
    const v1 = debugfs(rootFs, 'cat /ostree/repo/refs/heads/bootpath/registry/testbed/v1').trim();
    expect(deployDir).to.contain(v1);
  });

  it('deploys v1 with a container-image origin', function () {
    const origin = debugfs(rootFs, `cat ${deployDir}.origin`);
    expect(origin).to.match(/^\[origin\]\ncontainer-image-reference=ostree-unverified-registry:localhost\/bootpath\/testbed:v1\n/);
    expect(origin).not.to.match(/\[(packages|overrides|rpmostree)\]/);
    expect(debugfs(rootFs, `cat ${deployDir}/usr/lib/os-release`)).to.contain('VERSION="9.6 (testbed v1)"');
  });

  it('has the package pool, the stand-ins and FCOS\'s login arrangement', function () {
    const pool = ls(rootFs, `${deployDir}/usr/share/bootpath-testbed/pool`).map((e) => e.name);
    for (const p of ['strace', 'tree', 'hello', 'libunwind8']) expect(pool.some((n) => n.startsWith(`${p}_`) && n.endsWith('.deb')), p).to.equal(true);
    expect(debugfs(rootFs, `cat ${deployDir}/usr/share/bootpath-testbed/pool/index`)).to.match(/^strace: .*\bstrace\b/m);
    const bins = new Map(ls(rootFs, `${deployDir}/usr/bin`).map((e) => [e.name, e.mode]));
    for (const tool of ['rpm-ostree', 'bootc']) {
      expect(bins.has(tool), tool).to.equal(true);
      expect((bins.get(tool) ?? 0) & 0o111, `${tool} executable`).to.equal(0o111);
    }
    // ssh-key-dir reads ~/.ssh/authorized_keys.d (where Ignition writes keys) through this sshd
    // drop-in; it and the sudo group file are /etc defaults, as on FCOS
    const libexec = new Map(ls(rootFs, `${deployDir}/usr/libexec`).map((e) => [e.name, e.mode]));
    expect((libexec.get('ssh-key-dir') ?? 0) & 0o111).to.equal(0o111);
    expect(debugfs(rootFs, `cat ${deployDir}/usr/etc/ssh/sshd_config.d/40-ssh-key-dir.conf`)).to.match(/^AuthorizedKeysCommand \/usr\/libexec\/ssh-key-dir %u$/m);
    expect(debugfs(rootFs, `cat ${deployDir}/usr/etc/sudoers.d/coreos-sudo-group`)).to.match(/^%sudo ALL=\(ALL\) NOPASSWD: ALL$/m);
    const wants = ls(rootFs, `${deployDir}/etc/systemd/system/basic.target.wants`).map((e) => e.name);
    expect(wants).to.include('bootpath-ignition-firstboot-complete.service');
    expect(ls(rootFs, `${deployDir}/usr/lib/systemd/system`).map((e) => e.name)).not.to.include('bootpath-ignition.service');
    const images = JSON.parse(debugfs(rootFs, `cat ${deployDir}/usr/share/bootpath-testbed/images.json`)) as { images: Array<{ ref: string; digest: string }> };
    expect(images.images.map((i) => i.ref)).to.deep.equal(artifact.manifest.images.map((i) => i.ref));
    expect(images.images.map((i) => i.digest)).to.deep.equal(artifact.manifest.images.map((i) => i.digest));
  });

  it('keeps boot-time work a TCG guest never needs out: unused module autoloads, generators', function () {
    const modprobe = debugfs(rootFs, `cat ${deployDir}/usr/etc/modprobe.d/bootpath-testbed.conf`);
    for (const mod of ['kvm_amd', 'kvm_intel', 'aesni_intel']) expect(modprobe).to.match(new RegExp(`^blacklist ${mod}$`, 'm'));
    const generators = ls(rootFs, `${deployDir}/usr/etc/systemd/system-generators`).map((e) => e.name);
    expect(generators).to.include.members(['systemd-sysv-generator', 'systemd-gpt-auto-generator', 'systemd-cryptsetup-generator']);
    expect(generators).not.to.include('ostree-system-generator');
    expect(debugfs(rootFs, `stat ${deployDir}/usr/etc/systemd/system-generators/systemd-sysv-generator`)).to.contain('Fast link dest: "/dev/null"');
  });

  it('ships Python bytecode that an OSTree checkout (mtime 0) still finds valid', function () {
    // A timestamp-based .pyc holds its source's mtime at bytes 8..12; OSTree checks sources out
    // with mtime 0, so anything else there makes the guest recompile the module on every import.
    const pycHeader = (file: string): Buffer =>
      execFileSync('debugfs', ['-R', `cat ${file}`, rootFs], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).subarray(0, 16);
    const pythonDir = ls(rootFs, `${deployDir}/usr/lib`).map((e) => e.name).find((n) => /^python3\.\d+$/.test(n));
    expect(pythonDir, 'the image has a python3.x stdlib').to.be.a('string');
    const tag = `cpython-${pythonDir!.slice('python'.length).replace('.', '')}`;
    for (const pyc of [`usr/lib/${pythonDir}/json/__pycache__/__init__.${tag}.pyc`, `usr/lib/bootpath-testbed/__pycache__/testbed.${tag}.pyc`, `usr/lib/bootpath-testbed/__pycache__/statuscache.${tag}.pyc`]) {
      const header = pycHeader(`${deployDir}/${pyc}`);
      expect(header.length, pyc).to.equal(16);
      expect(header.readUInt32LE(4), `${pyc} flags (timestamp-based)`).to.equal(0);
      expect(header.readUInt32LE(8), `${pyc} recorded source mtime`).to.equal(0);
    }
  });

  it('has no root password, no users, no SSH keys and refuses root/password logins', async function () {
    const shadow = debugfs(rootFs, `cat ${deployDir}/etc/shadow`);
    const root = shadow.split('\n').find((l) => l.startsWith('root:'));
    expect(root?.split(':')[1], 'root password field').to.match(/^[!*]/);
    expect(debugfs(rootFs, `cat ${deployDir}/etc/passwd`)).not.to.match(/^core:/m);
    expect(ls(rootFs, `${deployDir}/etc/ssh`).map((e) => e.name).filter((n) => n.startsWith('ssh_host_'))).to.deep.equal([]);
    const sshd = debugfs(rootFs, `cat ${deployDir}/etc/ssh/sshd_config.d/50-bootpath-testbed.conf`);
    expect(sshd).to.match(/^PermitRootLogin no$/m).and.to.match(/^PasswordAuthentication no$/m);
    // the shared /var (root's and users' homes live there): dump it and look for authorized_keys
    const varDump = path.join(tmp, 'var');
    await fs.mkdir(varDump);
    debugfs(rootFs, `rdump /ostree/deploy/default/var ${varDump}`);
    const found = (await fs.readdir(varDump, { recursive: true })).filter((p) => p.endsWith('authorized_keys'));
    expect(found).to.deep.equal([]);
  });

  it('writes a manifest describing the images, the pool and the disk', async function () {
    const m = artifact.manifest;
    expect(m).to.include({ schema: 1, format: 'qcow2', firmware: 'bios', provisioning: 'ignition', user: 'core', stateroot: 'default' });
    expect(m.key).to.equal(await testbedInputsKey());
    expect(m.bootedImage).to.equal('localhost/bootpath/testbed:v1');
    expect(m.images.map((i) => i.tag)).to.deep.equal(['v1', 'v2', 'next']);
    for (const i of m.images) expect(i.digest).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(new Set(m.images.map((i) => i.digest)).size).to.equal(3);
    const [v1, v2, next] = m.images;
    expect(v1?.osRelease.VERSION_ID).to.equal('9.6');
    expect(v2?.osRelease.VERSION).to.contain('v2');
    expect(v2?.kargsD).to.deep.equal(['testbed.v2=1']);
    expect(v2?.files).to.include('/usr/share/bootpath-testbed/v2-marker');
    expect(next?.osRelease.VERSION_ID).to.equal('10.0');
    expect(next?.osRelease.ID).not.to.equal(v1?.osRelease.ID);
    expect(m.images.map((i) => i.shape)).to.deep.equal(['coreos', 'coreos', 'bootc']);
    expect(m.packages).to.include.members(['strace', 'tree', 'hello']);
    expect(m.sizeBytes).to.equal((await fs.stat(artifact.diskPath)).size);
    expect(path.basename(artifact.diskPath)).to.equal(m.disk);
  });

  it('returns the cached build in well under a second', async function () {
    const t0 = performance.now();
    const again = await buildTestbed({ cacheDir: cacheDir() });
    const ms = performance.now() - t0;
    expect(again.cacheHit).to.equal(true);
    expect(again.diskPath).to.equal(artifact.diskPath);
    expect(ms, `cache hit took ${ms.toFixed(0)} ms`).to.be.below(1000);
  });
});
