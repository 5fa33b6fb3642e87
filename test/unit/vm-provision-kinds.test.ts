/**
 * Provisioning per image kind, checked with the real parts: every Ignition config the catalog's
 * images get goes through the real ignition-validate; credentials go through the real
 * systemd-sysusers and systemd-tmpfiles (systemd 252 here, the version CentOS Stream 9 ships).
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCatalog } from '../../images/catalog.js';
import { provisioningProblem } from '../../images/catalog/schema.js';
import { buildDomainXml } from '../../vm/libvirt/domain-xml.js';
import type { SystemdCredential } from '../../vm/machine.js';
import { prepareMachineFiles } from '../../vm/machine-files.js';
import { buildQemuArgs } from '../../vm/qemu/command.js';
import { credentialsProvisioning, redactCredentials, smbiosCredentialString, SMBIOS_CREDENTIAL_PREFIX } from '../../vm/provision/credentials.js';
import { checkProvisioning, provisioningFor, redactProvisioning, runsZincati } from '../../vm/provision/for-image.js';
import { type IgnitionConfig } from '../../vm/provision/ignition.js';
import { validateIgnitionConfig } from '../../vm/provision/ignition-validate.js';
import { runChecked, whichBinary } from '../../vm/exec.js';
import { generateKeyPair } from '../../vm/ssh-keys.js';
import { InfraError } from '../../core/errors.js';

const BOOTC_IMAGES = ['centos-bootc-stream9', 'centos-bootc-stream10', 'fedora-bootc-42', 'rhel9-bootc', 'rhel10-bootc'];

describe('vm/provision per image kind', () => {
  let dir: string;
  let login: { machineName: string; authorizedKey: string; hostKey: { privateKey: string; publicKey: string } };
  before(async function () {
    this.timeout(20_000);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-kinds-'));
    const client = await generateKeyPair(dir, 'client', 'bootpath-test-client');
    const host = await generateKeyPair(dir, 'host', 'bootpath-test-host');
    login = { machineName: 'm1', authorizedKey: client.publicKey, hostKey: { privateKey: await fs.readFile(host.privateKeyPath, 'utf8'), publicKey: host.publicKey } };
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  it('validates the generated config of every catalog image with the real ignition-validate', async function () {
    this.timeout(60_000);
    expect(await whichBinary('ignition-validate'), 'ignition-validate (Debian package ignition, scripts/host-packages.txt) must be installed').to.be.a('string');
    const catalog = await loadCatalog();
    const kinds = new Set<string>();
    for (const { entry } of catalog.values()) {
      const p = provisioningFor(entry, login);
      expect(p.kind, entry.name).to.equal(entry.provisioning);
      kinds.add(p.kind);
      const check = await checkProvisioning(p, `image ${entry.name}`);
      if (p.kind === 'ignition') expect(check.status, entry.name).to.equal('valid');
      else expect(check.status, entry.name).to.equal('not-applicable');
    }
    expect([...kinds].sort()).to.deep.equal(['credentials', 'ignition']);
  });

  it('gives the bootc images credentials, never cloud-init, and rejects a bootc entry that claims cloud-init', async () => {
    const catalog = await loadCatalog();
    for (const name of BOOTC_IMAGES) expect(catalog.get(name)?.entry.provisioning, name).to.equal('credentials');
    const oci = catalog.get('centos-bootc-stream9')!.entry;
    expect(provisioningProblem({ ...oci, provisioning: 'cloud-init' })).to.match(/bootc images ship no cloud-init/);
    expect(provisioningProblem(oci)).to.equal(null);
  });

  it('writes the transition-safe login and switches Zincati off on FCOS only', async () => {
    const catalog = await loadCatalog();
    const files = (name: string): Map<string, { mode: number; user?: { name: string }; contents: { source: string } }> => {
      const p = provisioningFor(catalog.get(name)!.entry, login);
      if (p.kind !== 'ignition') throw new Error(`${name} is not an Ignition image`);
      return new Map(((p.config as IgnitionConfig).storage?.files ?? []).map((f) => [f.path, f]));
    };
    const decode = (src: string): string => Buffer.from(src.slice(src.indexOf(',') + 1), 'base64').toString('utf8');
    for (const name of ['fcos-stable', 'rhcos-4.x', 'testbed']) {
      const f = files(name);
      const ak = f.get('/var/home/core/.ssh/authorized_keys');
      expect(ak?.mode, name).to.equal(0o600);
      expect(ak?.user, name).to.deep.equal({ name: 'core' });
      expect(decode(ak!.contents.source)).to.equal(`${login.authorizedKey}\n`);
      const sudo = f.get('/etc/sudoers.d/90-bootpath-core');
      expect(sudo?.mode, name).to.equal(0o440);
      expect(decode(sudo!.contents.source)).to.equal('core ALL=(ALL) NOPASSWD: ALL\n');
    }
    const zincati = '/etc/zincati/config.d/90-disable-auto-updates.toml';
    expect(decode(files('fcos-stable').get(zincati)!.contents.source)).to.equal('[updates]\nenabled = false\n');
    expect(files('rhcos-4.x').has(zincati)).to.equal(false);
    const off = provisioningFor(catalog.get('testbed')!.entry, login, { transitionSafeLogin: false });
    if (off.kind !== 'ignition') throw new Error('testbed is an Ignition image');
    expect(((off.config as IgnitionConfig).storage?.files ?? []).map((f) => f.path)).to.deep.equal(['/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ed25519_key.pub']);
    expect(files('testbed').has(zincati)).to.equal(false);
    expect(runsZincati({ ...catalog.get('fcos-stable')!.entry, source: { kind: 'coreos-stream', stream: 'x', 'metadata-url': 'https://example.invalid/s.json' } })).to.equal(false);
  });

  it('reports an invalid config located by its JSON path and file, and skips with a notice without the validator', async function () {
    this.timeout(30_000);
    const bad = { ignition: { version: '3.3.0' }, storage: { files: [{ path: 'etc/relative', mode: 420, contents: { source: 'data:,x' } }] } };
    let err: unknown;
    try {
      await validateIgnitionConfig(bad, 'machine m1');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(InfraError);
    expect((err as InfraError).kind).to.equal('machine-start');
    expect((err as Error).message).to.match(/Ignition config for machine m1 is not valid/);
    expect((err as Error).message).to.contain('$.storage.files.0.path');
    expect((err as Error).message).to.contain('(file etc/relative)');
    expect((err as Error).message).not.to.match(/\n\s+at /); // no stack trace

    const savedPath = process.env.PATH;
    process.env.PATH = path.join(dir, 'empty-bin');
    try {
      const r = await validateIgnitionConfig(bad, 'machine m1');
      expect(r.status).to.equal('skipped');
      if (r.status === 'skipped') expect(r.notice).to.match(/ignition-validate is not installed.*machine m1.*apt-get install -y ignition/);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('builds credentials that the real systemd-sysusers and systemd-tmpfiles apply: user, keys, host key, sudoers', async function () {
    this.timeout(30_000);
    const p = credentialsProvisioning({ user: 'core', authorizedKey: login.authorizedKey, hostKey: login.hostKey });
    const byName = new Map(p.credentials.map((c) => [c.name, c.value]));
    expect([...byName.keys()]).to.deep.equal(['sysusers.extra', 'tmpfiles.extra']);
    const root = path.join(dir, 'root');
    await fs.mkdir(path.join(root, 'etc'), { recursive: true });
    await fs.mkdir(path.join(root, 'var/home'), { recursive: true });
    const conf = async (name: string): Promise<string> => {
      const file = path.join(dir, `${name}.conf`);
      await fs.writeFile(file, byName.get(name)!);
      return file;
    };
    await runChecked('systemd-sysusers', [`--root=${root}`, await conf('sysusers.extra')]);
    const passwd = await fs.readFile(path.join(root, 'etc/passwd'), 'utf8');
    const core = /^core:x:(\d+):(\d+):bootpath login user:\/var\/home\/core:\/bin\/bash$/m.exec(passwd);
    expect(core, passwd).to.not.equal(null);
    // systemd-tmpfiles resolves `core` against the root's passwd; chown needs root on this host.
    const res = await runChecked('systemd-tmpfiles', [`--root=${root}`, '--create', await conf('tmpfiles.extra')]).catch((e: Error) => ({ error: e }));
    const asRoot = process.getuid?.() === 0;
    if (asRoot) expect('error' in res ? res.error.message : '').to.equal('');
    const stat = async (rel: string): Promise<{ mode: number; uid: number; text: string }> => {
      const st = await fs.stat(path.join(root, rel));
      return { mode: st.mode & 0o7777, uid: st.uid, text: st.isFile() ? await fs.readFile(path.join(root, rel), 'utf8') : '' };
    };
    const home = await stat('var/home/core');
    const ssh = await stat('var/home/core/.ssh');
    const ak = await stat('var/home/core/.ssh/authorized_keys');
    expect([home.mode, ssh.mode, ak.mode]).to.deep.equal([0o700, 0o700, 0o600]);
    expect(ak.text).to.equal(`${login.authorizedKey}\n`);
    if (asRoot) expect([home.uid, ssh.uid, ak.uid]).to.deep.equal([Number(core![1]), Number(core![1]), Number(core![1])]);
    const priv = await stat('etc/ssh/ssh_host_ed25519_key');
    expect(priv.mode).to.equal(0o600);
    expect(priv.text).to.equal(login.hostKey.privateKey);
    expect((await stat('etc/ssh/ssh_host_ed25519_key.pub')).text).to.equal(`${login.hostKey.publicKey}\n`);
    const sudo = await stat('etc/sudoers.d/90-bootpath-core');
    expect(sudo.mode).to.equal(0o440);
    expect(sudo.text).to.equal('core ALL=(ALL) NOPASSWD: ALL\n');
    if (await whichBinary('visudo')) await runChecked('visudo', ['-c', '-f', path.join(root, 'etc/sudoers.d/90-bootpath-core')]);
  });

  it('passes credentials to QEMU and libvirt as SMBIOS type 11 strings read from 0600 files, never on the command line', async function () {
    this.timeout(30_000);
    const p = credentialsProvisioning({ user: 'core', authorizedKey: login.authorizedKey, hostKey: login.hostKey });
    const runDir = path.join(dir, 'results-m1');
    const provisionDir = path.join(dir, 'secret-m1');
    const files = await prepareMachineFiles({ name: 'm1', runDir, provisionDir, firmware: 'bios', memoryMiB: 256, cpus: 1, accel: 'tcg', provisioning: p });
    expect(files.smbiosCredentialFiles).to.have.length(2);
    for (const [i, file] of files.smbiosCredentialFiles!.entries()) {
      expect(path.dirname(file)).to.equal(provisionDir);
      expect((await fs.stat(file)).mode & 0o777).to.equal(0o600);
      const text = await fs.readFile(file, 'utf8');
      expect(text).to.equal(smbiosCredentialString(p.credentials[i]!));
      expect(text.startsWith(SMBIOS_CREDENTIAL_PREFIX)).to.equal(true);
      const [name, b64] = text.slice(SMBIOS_CREDENTIAL_PREFIX.length).split('=', 2) as [string, string];
      expect(name).to.equal(p.credentials[i]!.name);
      expect(Buffer.from(text.slice(text.indexOf('=') + 1), 'base64').toString('utf8')).to.equal(p.credentials[i]!.value);
      expect(b64).to.match(/^[A-Za-z0-9+/]+=*$/);
    }
    expect(await fs.readdir(runDir)).to.deep.equal([]); // nothing of the provisioning in results

    const args = buildQemuArgs({
      qemuBinary: 'qemu-system-x86_64', accel: 'tcg', runId: 'r1', machineName: 'm1', memoryMiB: 256, cpus: 1, consoleLog: '/r/console-1.log',
      qmp: { socketPath: '/r/qmp.sock' }, hostPort: 2222, noReboot: true, smbiosCredentialFiles: files.smbiosCredentialFiles!,
    });
    expect(args.filter((a, i) => args[i - 1] === '-smbios')).to.deep.equal(files.smbiosCredentialFiles!.map((f) => `type=11,path=${f}`));
    const secret = Buffer.from(login.hostKey.privateKey).toString('base64').slice(0, 40);
    expect(args.join(' ')).not.to.contain(secret);

    const xml = buildDomainXml({
      name: 'bootpath-r1-m1', metadata: { runId: 'r1', machine: 'm1', runDir, boot: 1, owner: { pid: 1, startTime: 1 } }, accel: 'tcg', memoryMiB: 256, cpus: 1,
      consoleLog: '/r/console-1.log', hostPort: 2222, destroyOnReboot: true, smbiosCredentialFiles: files.smbiosCredentialFiles!,
    });
    for (const f of files.smbiosCredentialFiles!) expect(xml).to.contain(`<qemu:arg value='type=11,path=${f}'/>`);
    expect(xml).not.to.contain('PRIVATE KEY');
    const xmlFile = path.join(dir, 'domain.xml');
    await fs.writeFile(xmlFile, xml);
    await runChecked('virt-xml-validate', [xmlFile, 'domain']);
  });

  it('redacts private key material from every kind, keeping the public parts readable', () => {
    const secretB64 = Buffer.from(login.hostKey.privateKey).toString('base64');
    const secretLine = login.hostKey.privateKey.split('\n')[1]!;
    for (const provisioning of ['ignition', 'credentials', 'cloud-init'] as const) {
      const p = provisioningFor({ provisioning, source: { kind: 'testbed' }, user: 'core' }, login);
      const shown = JSON.stringify(redactProvisioning(p));
      expect(shown, provisioning).not.to.contain(secretB64.slice(0, 40));
      expect(shown, provisioning).not.to.contain(secretLine);
      expect(shown, provisioning).to.contain('<redacted');
      // the client key's blob (YAML may fold the line at its spaces)
      if (provisioning !== 'credentials') expect(shown, provisioning).to.contain(login.authorizedKey.split(' ')[1]!);
    }
    const creds: SystemdCredential[] = redactCredentials(credentialsProvisioning({ user: 'core', authorizedKey: login.authorizedKey, hostKey: login.hostKey }).credentials);
    const tmpfiles = creds.find((c) => c.name === 'tmpfiles.extra')!.value;
    expect(tmpfiles).to.contain(Buffer.from(`${login.authorizedKey}\n`).toString('base64'));
    expect(tmpfiles).to.match(/^f\+~ \/etc\/ssh\/ssh_host_ed25519_key 0600 root root - <redacted/m);
  });
});
