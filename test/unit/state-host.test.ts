import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildStateScript, defaultStateCommands, hostStateFromSections, splitSections } from '../../harness/state/read.js';
import type { HostState } from '../../harness/state/types.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'state');
const fixture = (name: string): string => readFileSync(path.join(fixtures, name), 'utf8');

interface Sec {
  stdout: string;
  stderr?: string;
  exitCode: number;
}
const OS_RELEASE = 'NAME="Fedora Linux"\nVERSION="41.20250105.2.0 (CoreOS)"\nID=fedora\nVERSION_ID=41\n';

function state(parts: { rpm?: Sec | string; bootc?: Sec | string; bootcLegacy?: Sec; cmdline?: string; os?: string; bootId?: string; sys?: Sec }): HostState {
  const sec = (v: Sec | string | undefined, missing: Sec): { stdout: string; stderr: string; exitCode: number } => {
    const s = v === undefined ? missing : typeof v === 'string' ? { stdout: fixture(v), exitCode: 0 } : v;
    return { stdout: s.stdout, stderr: s.stderr ?? '', exitCode: s.exitCode };
  };
  const notFound = (tool: string): Sec => ({ stdout: '', stderr: `sh: 1: ${tool}: not found`, exitCode: 127 });
  const m = new Map([
    ['bootId', { stdout: `${parts.bootId ?? 'b1'}\n`, stderr: '', exitCode: 0 }],
    ['cmdline', { stdout: parts.cmdline ?? 'BOOT_IMAGE=(hd0,gpt3)/boot/vmlinuz root=UUID=x rw ostree=/ostree/boot.1/x/0\n', stderr: '', exitCode: 0 }],
    ['osRelease', { stdout: parts.os ?? OS_RELEASE, stderr: '', exitCode: 0 }],
    ['systemState', sec(parts.sys, { stdout: 'running\n', exitCode: 0 })],
    ['failedUnits', { stdout: '', stderr: '', exitCode: 0 }],
    ['rpmOstree', sec(parts.rpm, notFound('rpm-ostree'))],
    ['bootc', sec(parts.bootc, notFound('bootc'))],
  ]);
  if (parts.bootcLegacy) m.set('bootcLegacy', sec(parts.bootcLegacy, notFound('bootc')));
  return hostStateFromSections(m, defaultStateCommands, new Date('2026-01-01T00:00:00Z'));
}

describe('HostState from rpm-ostree + bootc', () => {
  it('clean FCOS container host: both tools agree, ostree-remote-image reference is unwrapped', () => {
    const s = state({ rpm: 'rpm-ostree-clean-container.json', bootc: 'bootc-signature-ostree-remote.json' });
    expect(s.disagreements).to.deep.equal([]);
    expect(s.rpmOstree.available).to.equal(true);
    expect(s.bootc.available).to.equal(true);
    const b = s.booted!;
    expect(b.source).to.deep.equal(['rpm-ostree', 'bootc']);
    expect(b.image).to.equal('quay.io/fedora/fedora-coreos@sha256:c4a15145a232d882ccf2ed32d22c06c01a7cf62317eb966a98340ae4bd56dfa6');
    expect(b.imageReference).to.match(/^ostree-remote-image:fedora:registry:/);
    expect(b.transport).to.equal('registry');
    expect(b.digest).to.equal('sha256:c4a15145a232d882ccf2ed32d22c06c01a7cf62317eb966a98340ae4bd56dfa6');
    expect(b.version).to.equal('41.20250105.2.0');
    expect(b.timestamp).to.equal('2025-01-06T19:46:25Z');
    expect(b.stateroot).to.equal('fedora-coreos');
    expect(b.layered).to.equal(false);
    expect(b.incompatible).to.equal(false);
    expect(b.baseChecksum).to.equal(b.checksum);
    expect(b.rpmOstreeImage).to.equal(b.bootcImage);
    expect(s.rollback?.version).to.equal('41.20241215.3.0');
    expect(s.staged).to.equal(null);
    expect(s.osRelease.VERSION_ID).to.equal('41');
    expect(s.kargs).to.include('rw');
    expect(s.systemState).to.equal('running');
  });

  it('layered + staged: staged view has packages and bootc incompatible, image from rpm-ostree', () => {
    const s = state({ rpm: 'rpm-ostree-layered-staged.json', bootc: 'bootc-staged-incompatible.json' });
    expect(s.disagreements).to.deep.equal([]);
    expect(s.staged?.requestedPackages).to.deep.equal(['htop']);
    expect(s.staged?.layered).to.equal(true);
    expect(s.staged?.incompatible).to.equal(true);
    expect(s.staged?.image).to.equal('quay.io/fedora/fedora-coreos:stable');
    expect(s.staged?.bootcImage).to.equal(null);
    expect(s.staged?.rpmOstreeImage).to.equal('quay.io/fedora/fedora-coreos:stable');
    expect(s.staged?.baseChecksum).to.equal('93d0341726aec2fc96b2a956ee1486105f959305507b80e38c689e2abeb7a7e6');
    expect(s.booted?.layered).to.equal(false);
    expect(s.booted?.incompatible).to.equal(false);
  });

  it('D (layered, rebooted) pairs with rpm-ostree layered-booted without disagreement', () => {
    const s = state({ rpm: 'rpm-ostree-layered-booted.json', bootc: 'bootc-d-layered-incompatible.json' });
    expect(s.disagreements).to.deep.equal([]);
    expect(s.booted?.incompatible).to.equal(true);
    expect(s.booted?.requestedPackages).to.deep.equal(['htop']);
    expect(s.rollback?.image).to.equal('quay.io/fedora/fedora-coreos:stable');
    expect(s.rollback?.source).to.deep.equal(['rpm-ostree', 'bootc']);
  });

  it('records disagreements instead of picking one answer', () => {
    const raw = JSON.parse(fixture('bootc-signature-ostree-remote.json'));
    raw.status.booted.image.imageDigest = 'sha256:' + 'f'.repeat(64);
    raw.status.booted.image.image.image = 'quay.io/fedora/fedora-coreos:next';
    const s = state({ rpm: 'rpm-ostree-clean-container.json', bootc: { stdout: JSON.stringify(raw), exitCode: 0 } });
    expect(s.disagreements.join('\n')).to.match(/booted image: rpm-ostree says quay\.io\/fedora\/fedora-coreos@sha256:c4a1\S+, bootc says quay\.io\/fedora\/fedora-coreos:next/);
    expect(s.disagreements.join('\n')).to.match(/booted digest: rpm-ostree says sha256:c4a1\S+, bootc says sha256:ffff/);
    expect(s.booted?.rpmOstreeImage).to.match(/@sha256:c4a1/);
    expect(s.booted?.bootcImage).to.equal('quay.io/fedora/fedora-coreos:next');
    expect(s.booted?.rpmOstreeDigest).to.match(/^sha256:c4a1/);
    expect(s.booted?.bootcDigest).to.equal('sha256:' + 'f'.repeat(64));
  });

  it('flags a checksum mismatch, a slot only one tool reports, and bootc saying "not deployed"', () => {
    const c = JSON.parse(fixture('bootc-staged-incompatible.json'));
    c.status.booted.ostree.checksum = 'e'.repeat(64);
    c.status.staged = null;
    const s = state({ rpm: 'rpm-ostree-layered-staged.json', bootc: { stdout: JSON.stringify(c), exitCode: 0 } });
    const all = s.disagreements.join('\n');
    expect(all).to.match(/booted: rpm-ostree says deployment 93d0\S+, bootc says eeee/);
    expect(all).to.match(/staged: only rpm-ostree reports a staged deployment/);
    const n = state({ rpm: 'rpm-ostree-clean-container.json', bootc: 'bootc-spec-v1-null.json' });
    expect(n.disagreements).to.have.length(1);
    expect(n.disagreements[0]).to.match(/bootc says the system is not deployed via bootc/);
    expect(n.booted?.source).to.deep.equal(['rpm-ostree']);
    expect(n.booted?.incompatible).to.equal(null);
  });

  it('flags rpm-ostree layering that bootc does not call incompatible', () => {
    const c = JSON.parse(fixture('bootc-staged-incompatible.json'));
    c.status.staged.incompatible = false;
    const s = state({ rpm: 'rpm-ostree-layered-staged.json', bootc: { stdout: JSON.stringify(c), exitCode: 0 } });
    expect(s.disagreements.join('\n')).to.match(/staged: rpm-ostree shows client-side changes but bootc says incompatible=false/);
  });

  it('bootc-only host (no rpm-ostree): views come from bootc, with a rendered imgref', () => {
    const s = state({ bootc: 'bootc-c-rollback.json' });
    expect(s.rpmOstree).to.deep.equal({ available: false, status: null });
    expect(s.disagreements).to.deep.equal([]);
    expect(s.booted?.source).to.deep.equal(['bootc']);
    expect(s.booted?.image).to.equal('quay.io/example/someimage:latest');
    expect(s.booted?.imageReference).to.equal('ostree-unverified-registry:quay.io/example/someimage:latest');
    expect(s.booted?.digest).to.equal('sha256:16dc2b6256b4ff0d2ec18d2dbfb06d117904010c8cf9732cdb022818cf7a7566');
    expect(s.rollback?.digest).to.equal('sha256:736b359467c9437c1ac915acaae952aad854e07eb4a16a94999a48af08c83c34');
    expect(s.booted?.requestedPackages).to.deep.equal([]);
  });

  it('ostree-ref host without bootc: image null, origin kept', () => {
    const s = state({ rpm: 'rpm-ostree-ostree-ref.json' });
    expect(s.bootc.available).to.equal(false);
    expect(s.booted?.image).to.equal(null);
    expect(s.booted?.origin).to.equal('fedora:fedora/x86_64/coreos/stable');
    expect(s.booted?.incompatible).to.equal(null);
    expect(s.booted?.pinned).to.equal(false);
    expect(s.rollback?.pinned).to.equal(true);
  });

  it('old bootc: --format rejected (exit 2), --json fallback is used', () => {
    const s = state({
      rpm: 'rpm-ostree-ostree-ref.json',
      bootc: { stdout: '', stderr: "error: unexpected argument '--format' found", exitCode: 2 },
      bootcLegacy: { stdout: fixture('bootc-old-v1alpha1.json'), exitCode: 0 },
    });
    expect(s.bootc.available).to.equal(true);
    expect(s.bootc.status?.apiVersion).to.equal('org.containers.bootc/v1alpha1');
    expect(s.bootc.error).to.equal(undefined);
  });

  it('a failing or garbled tool is available with an error, not a crash', () => {
    const s = state({
      rpm: { stdout: '', stderr: 'error: Could not connect to rpm-ostreed', exitCode: 1 },
      bootc: { stdout: 'not json', exitCode: 0 },
      sys: { stdout: 'degraded\n', exitCode: 1 },
    });
    expect(s.rpmOstree.available).to.equal(true);
    expect(s.rpmOstree.status).to.equal(null);
    expect(s.rpmOstree.error).to.match(/rpm-ostree status --json` exited 1: error: Could not connect to rpm-ostreed/);
    expect(s.bootc.error).to.match(/not valid JSON/);
    expect(s.booted).to.equal(null);
    expect(s.systemState).to.equal('degraded');
  });
});

describe('guest state script sections', () => {
  it('splits sections on both streams, keeps exit codes and exact bodies', () => {
    const n = 'abc123';
    const M = `@@bootpath-${n}`;
    const stdout = `${M} BEGIN bootId\nid-1\n\n${M} END bootId 0\n${M} BEGIN rpmOstree\n\n${M} END rpmOstree 127\n${M} BEGIN cmdline\nno newline\n${M} END cmdline 0\n`;
    const stderr = `${M} BEGIN bootId\n\n${M} END bootId 0\n${M} BEGIN rpmOstree\nsh: 1: rpm-ostree: not found\n\n${M} END rpmOstree 127\n`;
    const s = splitSections(stdout, stderr, n);
    expect(s.get('bootId')).to.deep.equal({ stdout: 'id-1\n', stderr: '', exitCode: 0 });
    expect(s.get('rpmOstree')).to.deep.equal({ stdout: '', stderr: 'sh: 1: rpm-ostree: not found\n', exitCode: 127 });
    expect(s.get('cmdline')?.stdout).to.equal('no newline');
  });

  it('the script quotes every command and falls back to bootc --json on exit 2', () => {
    const script = buildStateScript({ ...defaultStateCommands, bootc: "bootc status --format=json # it's" }, 'n1');
    expect(script).to.contain(`bg bootc 'bootc status --format=json # it'\\''s'`);
    expect(script).to.contain(`if [ "$rc" = 2 ]; then run bootcLegacy 'bootc status --json'; fi`);
  });
});
