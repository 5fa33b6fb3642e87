import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { runChecked } from '../../vm/exec.js';
import { buildSeedIso, cloudInitProvisioning, cloudInitUserData } from '../../vm/provision/cloud-init.js';
import { IGNITION_VERSION, redactIgnitionConfig, sshProvisioning, writeIgnitionConfig, type IgnitionConfig } from '../../vm/provision/ignition.js';
import { generateKeyPair } from '../../vm/ssh-keys.js';

const hostKey = { privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nSECRETSECRET\n-----END OPENSSH PRIVATE KEY-----\n', publicKey: 'ssh-ed25519 AAAAC3Nz host' };

describe('vm/provision', () => {
  let dir: string;
  beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-prov-'))));
  afterEach(async () => fs.rm(dir, { recursive: true, force: true }));

  it('builds an Ignition 3.3.0 config with the user, client key and pinned host key', async () => {
    const p = sshProvisioning({ user: 'core', authorizedKey: 'ssh-ed25519 AAAA client\n', hostKey, groups: ['wheel'] });
    const cfg = p.config as IgnitionConfig;
    expect(cfg.ignition.version).to.equal(IGNITION_VERSION).and.to.equal('3.3.0');
    expect(cfg.passwd?.users).to.deep.equal([{ name: 'core', sshAuthorizedKeys: ['ssh-ed25519 AAAA client'], groups: ['wheel'] }]);
    const files = cfg.storage?.files ?? [];
    expect(files.map((f) => [f.path, f.mode, f.overwrite])).to.deep.equal([
      ['/etc/ssh/ssh_host_ed25519_key', 384, true],
      ['/etc/ssh/ssh_host_ed25519_key.pub', 420, true],
    ]);
    const src = files[0]?.contents.source ?? '';
    expect(src.startsWith('data:;base64,')).to.equal(true);
    expect(Buffer.from(src.slice('data:;base64,'.length), 'base64').toString()).to.equal(hostKey.privateKey);

    const file = await writeIgnitionConfig(dir, p.config);
    expect(file).to.equal(path.join(dir, 'config.ign'));
    expect((await fs.stat(file)).mode & 0o777).to.equal(0o600);
    expect(JSON.parse(await fs.readFile(file, 'utf8'))).to.deep.equal(p.config);

    const redacted = JSON.stringify(redactIgnitionConfig(p.config));
    expect(redacted).not.to.contain(Buffer.from(hostKey.privateKey).toString('base64'));
    expect(redacted).to.contain('<redacted');
  });

  it('writes cloud-config user-data with the user and host keys', () => {
    const ud = cloudInitUserData({ user: 'fedora', authorizedKey: 'ssh-ed25519 AAAA client', hostKey });
    expect(ud.startsWith('#cloud-config\n')).to.equal(true);
    const doc = parse(ud) as { users: { name: string; ssh_authorized_keys: string[] }[]; ssh_keys: Record<string, string> };
    expect(doc.users[0]?.name).to.equal('fedora');
    expect(doc.users[0]?.ssh_authorized_keys).to.deep.equal(['ssh-ed25519 AAAA client']);
    expect(doc.ssh_keys.ed25519_private).to.equal(hostKey.privateKey);
    expect(doc.ssh_keys.ed25519_public).to.equal(hostKey.publicKey);
    expect(cloudInitProvisioning({ userData: 'u', metaData: 'm' })).to.deep.equal({ kind: 'cloud-init', userData: 'u', metaData: 'm' });
  });

  it('builds a NoCloud seed ISO labelled cidata that reads back', async function () {
    this.timeout(30_000);
    const p = cloudInitProvisioning({ machineName: 'm1', user: 'fedora', authorizedKey: 'ssh-ed25519 AAAA client' });
    const iso = await buildSeedIso(dir, p);
    expect((await fs.stat(iso)).mode & 0o777).to.equal(0o600);
    const ls = await runChecked('xorriso', ['-indev', iso, '-pvd_info', '-ls', '/']);
    const out = ls.stdout + ls.stderr;
    expect(out).to.match(/Volume Id\s*:\s*cidata/);
    expect(out).to.contain("'user-data'");
    expect(out).to.contain("'meta-data'");
    const extracted = path.join(dir, 'ud');
    await runChecked('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/user-data', extracted]);
    expect(await fs.readFile(extracted, 'utf8')).to.equal(p.userData);
  });

  it('generates ed25519 key pairs with a 0600 private key and the public blob', async function () {
    this.timeout(20_000);
    const kp = await generateKeyPair(path.join(dir, 'keys'), 'client', 'bootpath-test');
    expect((await fs.stat(kp.privateKeyPath)).mode & 0o777).to.equal(0o600);
    expect(kp.publicKey).to.match(/^ssh-ed25519 AAAA\S+ bootpath-test$/);
    expect(kp.publicKey.split(' ')[1]).to.equal(kp.publicKeyBlob);
    expect(kp.keyType).to.equal('ssh-ed25519');
  });
});
