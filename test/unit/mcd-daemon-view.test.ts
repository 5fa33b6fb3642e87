import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonView, decodeLikeGo, loadGoTypes, type GoTypes } from '../../harness/mcd/daemon-view.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const load = (rel: string): Record<string, unknown> => JSON.parse(readFileSync(path.join(fixtures, rel), 'utf8')) as Record<string, unknown>;
const bootcFixtures = ['state', 'testbed'].flatMap((d) => readdirSync(path.join(fixtures, d)).filter((f) => f.startsWith('bootc')).map((f) => `${d}/${f}`));

describe("mcd daemon view of bootc status (MCO pkg/daemon/bootc.go's types)", () => {
  let types: GoTypes;
  before(async () => {
    types = await loadGoTypes();
  });

  it('a booted-only host decodes; GetBootedImageInfo gets the image, version and checksum', () => {
    const view = daemonView(load('state/bootc-a-booted-only.json'), types);
    expect(view.queryStatus.kind).to.equal('ok');
    expect(view.getBootedImageInfo).to.deep.equal({
      kind: 'ok',
      value: { OSImageURL: 'quay.io/centos-bootc/centos-bootc:stream9', ImageVersion: 'stream9.20240807.0', BaseChecksum: '439f6bd2e2361bee292c1f31840d798c5ac5ba76483b8021dc9f7b0164ac0f48' },
    });
    // Keys the Go types lack are dropped, not errors.
    expect(view.decoded.ignoredKeys).to.include.members(['status.booted.softRebootCapable', 'status.booted.store', 'status.booted.image.architecture', 'status.readOnly']);
  });

  it('deploySerial never reaches DeploySerial (tagged deploy_serial): always 0', () => {
    const json = load('testbed/bootc-status-incompatible.json');
    const view = daemonView(json, types);
    const serial = (json.status as { booted: { ostree: { deploySerial: number } } }).booted.ostree.deploySerial;
    expect(serial).to.equal(3);
    expect(view.findings.filter((f) => f.id === 'deploy-serial-zero').map((f) => f.message)).to.include('status.booted.ostree.deploySerial is 3, but the Go field is tagged "deploy_serial": the daemon always reads DeploySerial 0');
    const decoded = view.decoded.value as { Status: { Booted: { Ostree: { DeploySerial: number } } } };
    expect(decoded.Status.Booted.Ostree.DeploySerial).to.equal(0);
  });

  it('a layered host (booted.image null): GetBootedImageInfo dereferences nil', () => {
    const view = daemonView(load('state/bootc-d-layered-incompatible.json'), types);
    expect(view.queryStatus.kind).to.equal('ok');
    expect(view.getBootedImageInfo).to.deep.include({ kind: 'panic', at: 'GetContainerImageReference: b.Image.Image with b.Image nil (booted.image is null)' });
    expect(view.findings.map((f) => f.id)).to.include('booted-image-info-panic');
  });

  it('no booted entry at all: the nil *BootEntry is dereferenced', () => {
    const view = daemonView(load('state/bootc-spec-v1-null.json'), types);
    expect(view.getBootedImageInfo).to.deep.include({ kind: 'panic', at: 'GetContainerImageReference: b.Image on a nil *BootEntry (no booted entry)' });
  });

  it('the {"ostreeRemote": …} signature decodes into OstreeRemote (field names match case-insensitively)', () => {
    const view = daemonView(load('state/bootc-signature-ostree-remote.json'), types);
    expect(view.queryStatus.kind).to.equal('ok');
    const spec = (view.decoded.value as { Spec: { Image: { Signature: unknown } } }).Spec.Image.Signature;
    expect(spec).to.deep.equal({ AllowInsecure: false, OstreeRemote: 'fedora' });
  });

  it('the string signature forms ("containerPolicy", "insecure") do not decode: QueryStatus fails', () => {
    const json = load('state/bootc-a-booted-only.json') as { spec: { image: Record<string, unknown> }; status: { booted: { image: { image: Record<string, unknown> } } } };
    json.spec.image.signature = 'containerPolicy';
    json.status.booted.image.image.signature = 'insecure';
    const view = daemonView(json, types);
    // The first UnmarshalTypeError in document order is the one json.Unmarshal returns.
    expect(view.queryStatus).to.deep.equal({ kind: 'error', message: 'failed to parse `bootc status --json` output: json: cannot unmarshal string into Go struct field ImageReference.spec.image.signature of type daemon.ImageSignature' });
    expect(view.decoded.typeErrors.map((e) => e.path)).to.deep.equal(['spec.image.signature', 'status.booted.image.image.signature']);
    expect(view.getBootedImageInfo.kind).to.equal('error');
  });

  it('a version null on a booted image is dereferenced by GetBootedImageInfo', () => {
    const json = load('state/bootc-a-booted-only.json') as { status: { booted: { image: Record<string, unknown> } } };
    json.status.booted.image.version = null;
    expect(daemonView(json, types).getBootedImageInfo).to.deep.include({ kind: 'panic', at: 'GetBootedImageInfo: *bootedImage.Image.Version with Version nil (booted.image.version is null)' });
  });

  it('a non-RFC 3339 timestamp aborts decoding (time.Time.UnmarshalJSON)', () => {
    const json = load('state/bootc-a-booted-only.json') as { status: { booted: { image: Record<string, unknown> } } };
    json.status.booted.image.timestamp = '2024-01-01 10:00';
    expect(decodeLikeGo(json, types).error).to.match(/^parsing time .*not an RFC 3339 time/u);
  });

  it('reports on every bootc status fixture without throwing', () => {
    expect(bootcFixtures.length).to.be.greaterThan(10);
    for (const f of bootcFixtures) {
      const view = daemonView(load(f), types);
      expect(['ok', 'panic', 'error'], f).to.include(view.getBootedImageInfo.kind);
      // Every fixture carries deploySerial, so every one shows the tag mismatch.
      if (JSON.stringify(load(f)).includes('"deploySerial"')) expect(view.findings.map((x) => x.id), f).to.include('deploy-serial-zero');
    }
  });
});
