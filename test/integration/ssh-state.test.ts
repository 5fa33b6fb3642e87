import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { connectGuest } from '../../harness/guest/connect.js';
import type { GuestSession } from '../../harness/guest/session.js';
import { defaultStateCommands, readHostState, type StateCommands } from '../../harness/state/read.js';
import { SshdFixture } from '../support/sshd.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'state');

/** readHostState over a real sshd, with rpm-ostree and bootc replaced by scripts that print fixtures. */
describe('readHostState over a real sshd', function () {
  this.timeout(30_000);
  let sshd: SshdFixture;
  let session: GuestSession;
  let dir: string;
  let commands: Partial<StateCommands>;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-state-'));
    const script = async (name: string, body: string): Promise<string> => {
      const p = path.join(dir, name);
      await fs.writeFile(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      return p;
    };
    await fs.writeFile(path.join(dir, 'boot_id'), '6f1b1f0e-0000-4000-8000-000000000001\n');
    await fs.writeFile(path.join(dir, 'cmdline'), 'BOOT_IMAGE=/boot/vmlinuz rw foo="a b" ostree=/ostree/boot.1/fedora-coreos/x/0\n');
    const rpmOstree = await script(
      'rpm-ostree',
      `[ "$*" = "status --json" ] || { echo "error: unexpected args $*" >&2; exit 1; }\ncat ${path.join(fixtures, 'rpm-ostree-layered-booted.json')}`,
    );
    // An old bootc: clap rejects --format with exit 2, --json works.
    const bootc = await script(
      'bootc',
      `case "$*" in\n  "status --format=json") echo "error: unexpected argument '--format' found" >&2; exit 2;;\n  "status --json") cat ${path.join(fixtures, 'bootc-d-layered-incompatible.json')};;\n  *) exit 1;;\nesac`,
    );
    commands = {
      bootId: `cat ${path.join(dir, 'boot_id')}`,
      cmdline: `cat ${path.join(dir, 'cmdline')}`,
      systemState: 'echo degraded; exit 1',
      failedUnits: "printf 'zincati.service loaded failed failed Zincati\\n'",
      rpmOstree: `${rpmOstree} status --json`,
      bootc: `${bootc} status --format=json`,
      bootcLegacy: `${bootc} status --json`,
    };
    sshd = await SshdFixture.create();
    await sshd.start();
    session = await connectGuest({
      endpoint: () => sshd.endpoint,
      user: sshd.user,
      privateKeyPath: sshd.clientKeyPath,
      hostPublicKey: sshd.hostPublicKey,
      deadlineMs: Date.now() + 10_000,
    });
  });
  after(async () => {
    await session?.close();
    await sshd?.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reads every section in one round trip through sudo, falling back to bootc --json', async () => {
    const s = await readHostState(session, { commands, timeoutMs: 10_000 });
    expect(s.bootId).to.equal('6f1b1f0e-0000-4000-8000-000000000001');
    expect(s.kargs).to.deep.equal(['BOOT_IMAGE=/boot/vmlinuz', 'rw', 'foo="a b"', 'ostree=/ostree/boot.1/fedora-coreos/x/0']);
    expect(s.systemState).to.equal('degraded');
    expect(s.failedUnits).to.deep.equal(['zincati.service']);
    expect(s.osRelease.ID).to.be.a('string'); // this host's real /etc/os-release
    expect(s.rpmOstree.available).to.equal(true);
    expect(s.rpmOstree.error).to.equal(undefined);
    expect(s.bootc.available).to.equal(true);
    expect(s.bootc.error).to.equal(undefined);
    expect(s.booted?.requestedPackages).to.deep.equal(['htop']);
    expect(s.booted?.incompatible).to.equal(true);
    expect(s.booted?.source).to.deep.equal(['rpm-ostree', 'bootc']);
    expect(s.disagreements).to.deep.equal([]);
  });

  it('missing tools are "not available", not errors', async () => {
    const s = await readHostState(session, {
      sudo: false,
      commands: { ...commands, rpmOstree: 'bootpath-no-such-tool status --json', bootc: 'bootpath-no-such-tool status --format=json' },
    });
    expect(s.rpmOstree).to.deep.equal({ available: false, status: null });
    expect(s.bootc).to.deep.equal({ available: false, status: null });
    expect(s.booted).to.equal(null);
    expect(s.bootId).to.equal('6f1b1f0e-0000-4000-8000-000000000001');
  });

  it('the default commands run on a host without rpm-ostree/bootc', async () => {
    const s = await readHostState(session, { sudo: false, commands: { systemState: defaultStateCommands.systemState } });
    expect(s.rpmOstree.available).to.equal(false);
    expect(s.bootc.available).to.equal(false);
    expect(s.bootId).to.match(/^[0-9a-f-]{36}$/);
    expect(s.kargs.length).to.be.greaterThan(0);
  });

  it('one round trip is faster than one exec per section (measured)', async () => {
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) await readHostState(session, { commands });
    const script = (performance.now() - t0) / 3;
    const t1 = performance.now();
    for (let i = 0; i < 3; i++) {
      for (const c of [commands.bootId!, commands.cmdline!, defaultStateCommands.osRelease, commands.systemState!, commands.failedUnits!, commands.rpmOstree!, commands.bootc!, commands.bootcLegacy!]) {
        await session.exec(c, { timeoutMs: 10_000, sudo: true });
      }
    }
    const separate = (performance.now() - t1) / 3;
    console.log(`      host state: one script ${script.toFixed(0)} ms vs separate execs ${separate.toFixed(0)} ms (host sshd, no TCG)`);
    expect(script).to.be.lessThan(separate);
  });
});
