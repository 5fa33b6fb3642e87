/** The oci source's command lines and config, checked without podman (there is none here). */
import { expect } from 'chai';
import { osbuildSelinux, OSBUILD_SELINUX_REMEDY } from '../../images/sources/osbuild-selinux.js';
import { osbuildSelinuxFact } from '../../vm/host-facts.js';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostNotCapableError, InputError } from '../../core/errors.js';
import type { CatalogEntry } from '../../images/catalog/schema.js';
import { resolveImage } from '../../images/resolve.js';
import {
  authFileFor,
  bcvkArgv,
  bootcImageBuilderArgv,
  buildKey,
  builderConfigToml,
  builtDiskPath,
  displayArgv,
  ensureDiskKey,
  findOnPath,
  planFor,
  podmanDigestArgv,
  podmanPullArgv,
  requireBuilderTool,
} from '../../images/sources/oci.js';

const entry: CatalogEntry = {
  name: 'rhel10-bootc',
  summary: 'test',
  source: { kind: 'oci', image: 'registry.redhat.io/rhel10/rhel-bootc:10.0', builder: 'bootc-image-builder', 'builder-image': 'registry.redhat.io/rhel10/bootc-image-builder:latest', rootfs: 'xfs' },
  firmware: 'uefi',
  provisioning: 'cloud-init',
  user: 'core',
  manages: ['bootc'],
  credentials: { env: 'BOOTPATH_TEST_AUTH' },
};
const source = entry.source as Extract<CatalogEntry['source'], { kind: 'oci' }>;
const dirs = { configPath: '/c/build/config.toml', outputDir: '/c/build/output' };

describe('images: oci source (bootc-image-builder / bcvk command lines)', () => {
  it('builds the rootful bootc-image-builder command line of the reference', () => {
    const plan = planFor(entry, source, dirs, '/home/u/auth.json', 0, 0);
    expect(bootcImageBuilderArgv(plan)).to.deep.equal([
      'podman', 'run', '--rm', '--privileged', '--pull=newer', '--security-opt', 'label=type:unconfined_t',
      '--authfile', '/home/u/auth.json',
      '-v', '/c/build/config.toml:/config.toml:ro', '-v', '/c/build/output:/output', '-v', '/var/lib/containers/storage:/var/lib/containers/storage',
      'registry.redhat.io/rhel10/bootc-image-builder:latest', '--type', 'qcow2', '--rootfs', 'xfs', 'registry.redhat.io/rhel10/rhel-bootc:10.0',
    ]);
    expect(builtDiskPath(plan)).to.equal('/c/build/output/qcow2/disk.qcow2');
    expect(podmanPullArgv(plan)).to.deep.equal(['podman', 'pull', '--authfile', '/home/u/auth.json', 'registry.redhat.io/rhel10/rhel-bootc:10.0']);
  });

  it('as a non-root user: sudo, and the output handed back with --chown; default builder image and rootfs', () => {
    const plan = planFor({ ...entry, credentials: undefined }, { kind: 'oci', image: 'quay.io/fedora/fedora-bootc:42' }, dirs, undefined, 1000, 1000);
    const argv = bootcImageBuilderArgv(plan);
    expect(argv.slice(0, 3)).to.deep.equal(['sudo', '--', 'podman']);
    expect(argv).to.not.include('--authfile');
    expect(argv.slice(-8)).to.deep.equal(['quay.io/centos-bootc/bootc-image-builder:latest', '--type', 'qcow2', '--rootfs', 'xfs', '--chown', '1000:1000', 'quay.io/fedora/fedora-bootc:42']);
  });

  it('bcvk as a non-root user: pull, inspect and bcvk all use that user\'s podman store (no sudo anywhere)', () => {
    const plan = planFor(entry, { ...source, builder: 'bcvk' }, dirs, undefined, 1000, 1000);
    expect(plan.sudo).to.equal(false);
    expect(plan.chown).to.equal(undefined);
    expect(podmanPullArgv(plan)[0]).to.equal('podman');
    expect(podmanDigestArgv(plan)[0]).to.equal('podman');
    expect(bcvkArgv(plan)[0]).to.equal('bcvk');
  });

  it('bcvk to-disk alternative', () => {
    const plan = planFor(entry, { ...source, builder: 'bcvk', rootfs: 'btrfs', 'disk-size': '20G' }, dirs, undefined, 0, 0);
    expect(bcvkArgv(plan)).to.deep.equal(['bcvk', 'to-disk', '--format=qcow2', '--filesystem=btrfs', '--disk-size=20G', 'registry.redhat.io/rhel10/rhel-bootc:10.0', '/c/build/output/disk.qcow2']);
    expect(builtDiskPath(plan)).to.equal('/c/build/output/disk.qcow2');
  });

  it('config.toml injects the login user with the stable disk key, in wheel', () => {
    expect(builderConfigToml('core', 'ssh-ed25519 AAAAC3Nza bootpath-disk-key\n', '20G')).to.equal(
      [
        '[[customizations.user]]',
        'name = "core"',
        'key = "ssh-ed25519 AAAAC3Nza bootpath-disk-key"',
        'groups = ["wheel"]',
        '',
        '[[customizations.filesystem]]',
        'mountpoint = "/"',
        'minsize = "20 GiB"',
        '',
      ].join('\n'),
    );
  });

  it('the cache key changes with the digest and the config, and with nothing else', () => {
    const plan = planFor(entry, source, dirs, '/a', 0, 0);
    const other = planFor(entry, source, { configPath: '/x/config.toml', outputDir: '/x/out' }, '/b', 1000, 1000);
    const k = buildKey(plan, 'sha256:' + '1'.repeat(64), 'cfg');
    expect(buildKey(other, 'sha256:' + '1'.repeat(64), 'cfg'), 'paths and credentials do not change the disk').to.equal(k);
    expect(buildKey(plan, 'sha256:' + '2'.repeat(64), 'cfg')).to.not.equal(k);
    expect(buildKey(plan, 'sha256:' + '1'.repeat(64), 'cfg2')).to.not.equal(k);
  });

  it('never logs the credentials path', () => {
    const plan = planFor(entry, source, dirs, '/secret/auth.json', 0, 0);
    const shown = displayArgv(bootcImageBuilderArgv(plan));
    expect(shown).to.not.include('/secret/auth.json');
    expect(shown).to.include('--authfile <credentials>');
  });

  it('credentials.env: unset variable and missing file are input errors naming the variable', async () => {
    expect(() => authFileFor(entry, {}, 'images/catalog/rhel10-bootc.yaml')).to.throw(InputError, /set BOOTPATH_TEST_AUTH to a podman auth file/);
    expect(() => authFileFor(entry, { BOOTPATH_TEST_AUTH: '/nonexistent/auth.json' })).to.throw(InputError, /\$BOOTPATH_TEST_AUTH does not exist/);
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-auth-'));
    try {
      await fs.writeFile(path.join(tmp, 'auth.json'), '{}');
      expect(authFileFor(entry, { BOOTPATH_TEST_AUTH: path.join(tmp, 'auth.json') })).to.equal(path.join(tmp, 'auth.json'));
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });

  it('missing podman: HostNotCapableError whose remedy is the install command for this distribution', () => {
    const env = { PATH: '/nonexistent' };
    const debian = 'ID=debian\nVERSION_ID="12"\n';
    const fedora = 'ID=fedora\nVERSION_ID=42\n';
    const check = (osRelease: string) => {
      try {
        requireBuilderTool('bootc-image-builder', env, osRelease);
      } catch (err) {
        expect(err).to.be.instanceOf(HostNotCapableError);
        expect((err as HostNotCapableError).exitCode).to.equal(3);
        return (err as HostNotCapableError).remedy;
      }
      throw new Error('expected HostNotCapableError');
    };
    expect(check(debian)).to.equal('apt-get install podman');
    expect(check('ID=ubuntu\nID_LIKE=debian\n')).to.equal('apt-get install podman');
    expect(check(fedora)).to.equal('dnf install podman');
    expect(() => requireBuilderTool('bcvk', env, debian)).to.throw(HostNotCapableError, /bcvk/);
  });

  it('osbuild-selinux: needed only where SELinux is enforcing; found in any policy store priority; bootc-image-builder refuses without it, bcvk does not care', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-selinux-'));
    try {
      expect(osbuildSelinux(root)).to.deep.equal({ kind: 'not-enforcing' });
      await fs.mkdir(path.join(root, 'sys/fs/selinux'), { recursive: true });
      await fs.writeFile(path.join(root, 'sys/fs/selinux/enforce'), '0');
      expect(osbuildSelinux(root)).to.deep.equal({ kind: 'not-enforcing' });
      await fs.writeFile(path.join(root, 'sys/fs/selinux/enforce'), '1');
      expect(osbuildSelinux(root)).to.deep.equal({ kind: 'missing' });
      await fs.mkdir(path.join(root, 'var/lib/selinux/targeted/active/modules/100/base'), { recursive: true });
      expect(osbuildSelinux(root)).to.deep.equal({ kind: 'missing' });
      const module = path.join(root, 'var/lib/selinux/targeted/active/modules/200/osbuild');
      await fs.mkdir(module, { recursive: true });
      expect(osbuildSelinux(root)).to.deep.equal({ kind: 'installed', module });

      // Only the tools' presence on PATH matters to this check: two executables that do nothing.
      const bin = path.join(root, 'bin');
      await fs.mkdir(bin);
      for (const tool of ['podman', 'bcvk']) await fs.writeFile(path.join(bin, tool), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
      const env = { PATH: bin };
      expect(() => requireBuilderTool('bootc-image-builder', env, null, { kind: 'missing' })).to.throw(HostNotCapableError, /SELinux is enforcing and the osbuild policy module/);
      expect(() => requireBuilderTool('bootc-image-builder', env, null, { kind: 'installed', module })).to.not.throw();
      expect(() => requireBuilderTool('bootc-image-builder', env, null, { kind: 'not-enforcing' })).to.not.throw();
      expect(() => requireBuilderTool('bcvk', env, null, { kind: 'missing' })).to.not.throw();
      expect(osbuildSelinuxFact({ kind: 'missing' })).to.include({ status: 'warn', remedy: OSBUILD_SELINUX_REMEDY });
      expect(osbuildSelinuxFact({ kind: 'not-enforcing' }).status).to.equal('ok');
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('resolveImage on an oci entry without podman on PATH fails with exit code 3', async function () {
    if (findOnPath('podman')) this.skip();
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-oci-'));
    try {
      const err = await resolveImage({ ...entry, credentials: undefined }, { cacheDir: tmp }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(HostNotCapableError);
      expect((err as HostNotCapableError).remedy).to.match(/(apt-get|dnf) install podman/);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });

  it('the disk key is created once, 0600, and reused', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-key-'));
    try {
      const a = await ensureDiskKey(tmp);
      const b = await ensureDiskKey(tmp);
      expect(a).to.deep.equal(b);
      expect(a.publicKey).to.match(/^ssh-ed25519 \S+ bootpath-disk-key$/);
      expect((await fs.stat(a.privateKey)).mode & 0o777).to.equal(0o600);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
});
