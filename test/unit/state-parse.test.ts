import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBootcStatus } from '../../harness/state/bootc.js';
import { StateParseError } from '../../harness/state/json.js';
import { hasClientSideChanges, parseRpmOstreeStatus } from '../../harness/state/rpm-ostree.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'state');
const fixture = (name: string): string => readFileSync(path.join(fixtures, name), 'utf8');

describe('parseBootcStatus', () => {
  it('A: booted only', () => {
    const h = parseBootcStatus(fixture('bootc-a-booted-only.json'));
    expect(h.apiVersion).to.equal('org.containers.bootc/v1');
    expect(h.spec.image).to.deep.equal({ image: 'quay.io/centos-bootc/centos-bootc:stream9', transport: 'registry', signature: null });
    expect(h.status.staged).to.equal(null);
    expect(h.status.rollback).to.equal(null);
    expect(h.status.type).to.equal('bootcHost');
    expect(h.status.readOnly).to.equal(false);
    expect(h.status.otherDeployments).to.deep.equal([]);
    const b = h.status.booted!;
    expect(b.image?.image.image).to.equal('quay.io/centos-bootc/centos-bootc:stream9');
    expect(b.image?.imageDigest).to.equal('sha256:47e5ed613a970b6574bfa954ab25bb6e85656552899aa518b5961d9645102b38');
    expect(b.image?.version).to.equal('stream9.20240807.0');
    expect(b.image?.timestamp).to.equal(null);
    expect(b.image?.architecture).to.equal('arm64');
    expect(b.ostree).to.deep.equal({ checksum: '439f6bd2e2361bee292c1f31840d798c5ac5ba76483b8021dc9f7b0164ac0f48', deploySerial: 0, stateroot: 'default' });
    expect(b.store).to.equal('ostreeContainer');
    expect(b.softRebootCapable).to.equal(false);
    expect(b.downloadOnly).to.equal(false);
    expect(b.incompatible).to.equal(false);
  });

  it('B: booted + staged, and C: the same after reboot (rollback)', () => {
    const b = parseBootcStatus(fixture('bootc-b-staged.json'));
    expect(b.status.staged?.ostree?.checksum).to.match(/^3c6dad/);
    expect(b.status.booted?.ostree?.checksum).to.match(/^26836632/);
    expect(b.status.staged?.image?.timestamp).to.equal('2023-10-14T19:22:15Z');
    const c = parseBootcStatus(fixture('bootc-c-rollback.json'));
    expect(c.status.staged).to.equal(null);
    expect(c.status.booted?.ostree?.checksum).to.match(/^3c6dad/);
    expect(c.status.rollback?.ostree?.checksum).to.match(/^26836632/);
  });

  it('D: layered host: incompatible, image null, type null', () => {
    const d = parseBootcStatus(fixture('bootc-d-layered-incompatible.json'));
    expect(d.spec.image).to.equal(null);
    expect(d.status.type).to.equal(null);
    expect(d.status.booted?.incompatible).to.equal(true);
    expect(d.status.booted?.image).to.equal(null);
    expect(d.status.booted?.ostree?.stateroot).to.equal('fedora-coreos');
    expect(d.status.rollback?.image?.image.signature).to.deep.equal({ kind: 'ostreeRemote', remote: 'fedora' });
  });

  it('not a bootc host (spec-v1-null.json): no entries, missing newer keys read as null', () => {
    const n = parseBootcStatus(fixture('bootc-spec-v1-null.json'));
    expect(n.status.booted).to.equal(null);
    expect(n.status.staged).to.equal(null);
    expect(n.status.rollback).to.equal(null);
    expect(n.status.usrOverlay).to.equal(null);
    expect(n.status.readOnly).to.equal(null);
  });

  it('older bootc (v1alpha1, --json): newer fields are null, not errors', () => {
    const o = parseBootcStatus(fixture('bootc-old-v1alpha1.json'));
    expect(o.apiVersion).to.equal('org.containers.bootc/v1alpha1');
    const b = o.status.booted!;
    expect(b.softRebootCapable).to.equal(null);
    expect(b.downloadOnly).to.equal(null);
    expect(b.store).to.equal(null);
    expect(b.image?.architecture).to.equal(null);
    expect(b.ostree?.stateroot).to.equal(null);
    expect(o.status.usrOverlay).to.equal(null);
    expect(o.status.readOnly).to.equal(null);
    expect(b.image?.version).to.equal('stream9.20240501.0');
  });

  it('signature variants: {"ostreeRemote":…}, "containerPolicy", "insecure", omitted, unknown', () => {
    const s = parseBootcStatus(fixture('bootc-signature-ostree-remote.json'));
    expect(s.spec.image?.signature).to.deep.equal({ kind: 'ostreeRemote', remote: 'fedora' });
    const withSig = (sig: unknown): unknown => {
      const raw = JSON.parse(fixture('bootc-a-booted-only.json'));
      raw.status.booted.image.image.signature = sig;
      return parseBootcStatus(JSON.stringify(raw)).status.booted?.image?.image.signature;
    };
    expect(withSig('containerPolicy')).to.deep.equal({ kind: 'containerPolicy' });
    expect(withSig('insecure')).to.deep.equal({ kind: 'insecure' });
    expect(withSig(undefined)).to.equal(null);
    expect(withSig({ somethingNew: 1 })).to.deep.equal({ kind: 'unknown', raw: { somethingNew: 1 } });
  });

  it('keeps unknown fields in raw and tolerates otherDeployments, usrOverlay, composefs', () => {
    const raw = JSON.parse(fixture('bootc-c-rollback.json'));
    raw.status.otherDeployments = [raw.status.rollback];
    raw.status.usrOverlay = { accessMode: 'readWrite', persistence: 'transient' };
    raw.status.booted.composefs = { verity: 'abc', bootType: 'bls' };
    raw.status.booted.aFieldFromBootc2 = 'x';
    const h = parseBootcStatus(JSON.stringify(raw));
    expect(h.status.otherDeployments).to.have.length(1);
    expect(h.status.usrOverlay).to.deep.equal({ accessMode: 'readWrite', persistence: 'transient' });
    expect(h.status.booted?.composefs).to.deep.equal({ verity: 'abc', bootType: 'bls' });
    expect(h.status.booted?.raw.aFieldFromBootc2).to.equal('x');
  });

  it('rejects non-JSON and non-BootcHost output with a message that says what it got', () => {
    expect(() => parseBootcStatus('apiVersion: org.containers.bootc/v1\n')).to.throw(StateParseError, /bootc status JSON output is not valid JSON.*apiVersion/);
    expect(() => parseBootcStatus('{"kind":"Other"}')).to.throw(StateParseError, /not a BootcHost/);
  });
});

describe('parseRpmOstreeStatus', () => {
  it('layered + staged (reference §3): staged/booted flags, base checksum, requested packages', () => {
    const s = parseRpmOstreeStatus(fixture('rpm-ostree-layered-staged.json'));
    expect(s.deployments).to.have.length(2);
    expect(s.staged?.requestedPackages).to.deep.equal(['htop']);
    expect(s.staged?.baseChecksum).to.equal('93d0341726aec2fc96b2a956ee1486105f959305507b80e38c689e2abeb7a7e6');
    expect(s.staged?.containerImageReference).to.equal('ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable');
    expect(s.staged?.containerImageReferenceDigest).to.equal('sha256:c4a15145a232d882ccf2ed32d22c06c01a7cf62317eb966a98340ae4bd56dfa6');
    expect(hasClientSideChanges(s.staged!)).to.equal(true);
    expect(s.booted?.checksum).to.equal('93d0341726aec2fc96b2a956ee1486105f959305507b80e38c689e2abeb7a7e6');
    expect(s.booted?.baseChecksum).to.equal(null);
    expect(hasClientSideChanges(s.booted!)).to.equal(false);
    expect(s.rollback).to.equal(null);
    expect(s.transaction).to.equal(null);
    expect(s.updateDriver).to.equal(null);
  });

  it('clean container host (real FCOS style): rollback is the first plain entry after booted; update driver', () => {
    const s = parseRpmOstreeStatus(fixture('rpm-ostree-clean-container.json'));
    expect(s.staged).to.equal(null);
    expect(s.booted?.containerImageReference).to.match(/^ostree-remote-image:fedora:registry:quay\.io\/fedora\/fedora-coreos@sha256:c4a1/);
    expect(s.booted?.customOrigin?.[1]).to.equal('Fedora CoreOS Testing stream through OCI images');
    expect(s.rollback?.version).to.equal('41.20241215.3.0');
    expect(s.updateDriver).to.deep.equal({ driverName: 'Zincati', driverSdUnit: 'zincati.service' });
  });

  it('ostree-ref origin: origin, gpg-enabled, pinned rollback, unknown keys kept in raw', () => {
    const s = parseRpmOstreeStatus(fixture('rpm-ostree-ostree-ref.json'));
    expect(s.booted?.origin).to.equal('fedora:fedora/x86_64/coreos/stable');
    expect(s.booted?.gpgEnabled).to.equal(true);
    expect(s.booted?.containerImageReference).to.equal(null);
    expect(s.booted?.raw['some-field-from-the-future']).to.deep.equal({ x: 1 });
    expect(s.booted?.raw['pending-base-version']).to.equal('39.20240128.3.0');
    expect(s.rollback?.pinned).to.equal(true);
  });

  it('old RHCOS with modules fields and base removals', () => {
    const s = parseRpmOstreeStatus(fixture('rpm-ostree-rhcos-old-modules.json'));
    expect(s.booted?.osname).to.equal('rhcos');
    expect(s.booted?.modules).to.deep.equal([]);
    expect(s.booted?.requestedModulesEnabled).to.deep.equal([]);
    expect(s.booted?.requestedBaseRemovals).to.deep.equal(['kernel', 'kernel-core', 'kernel-modules']);
    expect(s.booted?.requestedPackages).to.deep.equal(['usbguard']);
    expect(s.booted?.liveReplaced).to.equal(null);
    expect(s.rollback?.pinned).to.equal(true);
  });

  it('a transaction in progress and missing optional keys', () => {
    const s = parseRpmOstreeStatus(
      JSON.stringify({ deployments: [{ checksum: 'abc', booted: true }], transaction: ['upgrade', ':1.42', '/org/projectatomic/rpmostree1/fedora'] }),
    );
    expect(s.transaction).to.deep.equal(['upgrade', ':1.42', '/org/projectatomic/rpmostree1/fedora']);
    expect(s.booted?.requestedPackages).to.deep.equal([]);
    expect(s.booted?.version).to.equal(null);
    expect(s.cachedUpdate).to.equal(null);
  });

  it('rejects output without deployments or with a deployment without checksum', () => {
    expect(() => parseRpmOstreeStatus('{"foo":1}')).to.throw(StateParseError, /no "deployments" array/);
    expect(() => parseRpmOstreeStatus('{"deployments":[{"booted":true}]}')).to.throw(StateParseError, /deployments\[0\] has no "checksum"/);
    expect(() => parseRpmOstreeStatus('error: Unknown option --json')).to.throw(StateParseError, /not valid JSON/);
  });
});
