/** Stream-metadata parsing and progress rendering: pure functions, no network. */
import { expect } from 'chai';
import { InfraError } from '../../core/errors.js';
import { compressionOf } from '../../images/decompress.js';
import { formatProgress, textProgress } from '../../images/progress.js';
import { selectStreamDisk, streamMetadataUrl } from '../../images/sources/coreos-stream.js';

const sha = (c: string) => c.repeat(64);
const doc = (formats: Record<string, unknown>) => ({ stream: 'x', architectures: { x86_64: { artifacts: { qemu: { release: '4.18.1', formats } } } } });

describe('images: stream metadata and progress', () => {
  it('stream URL: default FCOS server, a base URL, or the JSON itself', () => {
    expect(streamMetadataUrl({ kind: 'coreos-stream', stream: 'stable' })).to.equal('https://builds.coreos.fedoraproject.org/streams/stable.json');
    expect(streamMetadataUrl({ kind: 'coreos-stream', stream: 'next', 'metadata-url': 'http://127.0.0.1:9/streams' })).to.equal('http://127.0.0.1:9/streams/next.json');
    expect(streamMetadataUrl({ kind: 'coreos-stream', stream: 'rhcos', 'metadata-url': 'http://127.0.0.1:9/rhcos-4.18.json' })).to.equal('http://127.0.0.1:9/rhcos-4.18.json');
  });

  it('picks qcow2.gz on an RHCOS-style stream when no format is set; an explicit missing format names the JSON path', () => {
    const d = doc({ 'qcow2.gz': { disk: { location: 'https://m/rhcos-qemu.x86_64.qcow2.gz', sha256: sha('a'), 'uncompressed-sha256': sha('b') } } });
    expect(selectStreamDisk(d, 'x86_64', undefined, 'u')).to.deep.equal({ release: '4.18.1', format: 'qcow2.gz', location: 'https://m/rhcos-qemu.x86_64.qcow2.gz', sha256: sha('a'), signature: undefined, uncompressedSha256: sha('b') });
    expect(() => selectStreamDisk(d, 'x86_64', 'qcow2.xz', 'u')).to.throw(InfraError, 'stream metadata u: .architectures.x86_64.artifacts.qemu.formats["qcow2.xz"].disk is missing (formats present: qcow2.gz)');
    expect(() => selectStreamDisk(d, 'aarch64', undefined, 'u')).to.throw(InfraError, '.architectures.aarch64 is missing (architectures present: x86_64)');
    expect(() => selectStreamDisk({}, 'x86_64', undefined, 'u')).to.throw(InfraError, 'is this a CoreOS stream JSON?');
    expect(() => selectStreamDisk(doc({ 'qcow2.xz': { disk: { location: 'https://m/x', sha256: 'nope' } } }), 'x86_64', undefined, 'u')).to.throw(InfraError, '.sha256 is missing or not a sha256');
  });

  it('compression by extension (query strings ignored)', () => {
    expect(['a.qcow2.xz', 'a.qcow2.gz?x=1', 'a.raw.zst', 'a.qcow2'].map(compressionOf)).to.deep.equal(['xz', 'gz', 'zst', 'none']);
  });

  it('progress: bytes, rate, ETA; a live line on a TTY, periodic plain lines otherwise', () => {
    const p = { label: 'fcos-stable 42', bytes: 512 << 20, total: 1024 << 20, rateBps: 8 << 20, etaSeconds: 64, done: false };
    expect(formatProgress(p)).to.equal('fcos-stable 42: 512.0 MiB / 1.0 GiB (50%) at 8.0 MiB/s, ETA 1m04s');
    const tty: string[] = [];
    const ttySink = textProgress((t) => tty.push(t), true, 0);
    ttySink(p);
    ttySink({ ...p, bytes: 1024 << 20, done: true });
    expect(tty[0]!.startsWith('\r\u001b[2Kfcos-stable 42: 512.0 MiB')).to.equal(true);
    expect(tty[1]).to.match(/done\n$/);
    const plain: string[] = [];
    const plainSink = textProgress((t) => plain.push(t), false, 60_000);
    plainSink(p);
    plainSink(p); // within the interval: dropped
    plainSink({ ...p, done: true });
    expect(plain).to.have.length(2);
    expect(plain.every((l) => !l.includes('\r') && l.endsWith('\n'))).to.equal(true);
  });
});
