import { expect } from 'chai';
import { formatOstreeImageReference, parseOstreeImageReference } from '../../harness/state/image-reference.js';
import { parseCmdline, parseOsRelease, splitKarg } from '../../harness/state/text.js';

describe('parseOstreeImageReference', () => {
  const cases: [string, { image: string; transport: string; signature: unknown }][] = [
    ['ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable', { image: 'quay.io/fedora/fedora-coreos:stable', transport: 'registry', signature: { kind: 'insecure' } }],
    [
      'ostree-unverified-image:containers-storage:sha256:0123abcd',
      { image: 'sha256:0123abcd', transport: 'containers-storage', signature: { kind: 'insecure' } },
    ],
    [
      'ostree-unverified-image:containers-storage:quay.io/openshift/os@sha256:' + 'a'.repeat(64),
      { image: 'quay.io/openshift/os@sha256:' + 'a'.repeat(64), transport: 'containers-storage', signature: { kind: 'insecure' } },
    ],
    [
      'ostree-remote-image:fedora:registry:quay.io/fedora/fedora-coreos@sha256:' + 'c'.repeat(64),
      { image: 'quay.io/fedora/fedora-coreos@sha256:' + 'c'.repeat(64), transport: 'registry', signature: { kind: 'ostreeRemote', remote: 'fedora' } },
    ],
    [
      'ostree-remote-registry:fedora:quay.io/fedora/fedora-coreos:next',
      { image: 'quay.io/fedora/fedora-coreos:next', transport: 'registry', signature: { kind: 'ostreeRemote', remote: 'fedora' } },
    ],
    [
      'ostree-image-signed:docker://quay.io/fedora/fedora-coreos:next',
      { image: 'quay.io/fedora/fedora-coreos:next', transport: 'registry', signature: { kind: 'containerPolicy' } },
    ],
    ['ostree-image-signed:registry:localhost:5000/os:1', { image: 'localhost:5000/os:1', transport: 'registry', signature: { kind: 'containerPolicy' } }],
    ['ostree-unverified-image:oci:/var/tmp/layout', { image: '/var/tmp/layout', transport: 'oci', signature: { kind: 'insecure' } }],
    ['ostree-unverified-image:oci-archive:/tmp/x.tar', { image: '/tmp/x.tar', transport: 'oci-archive', signature: { kind: 'insecure' } }],
    ['ostree-unverified-registry:localhost:5000/os:1', { image: 'localhost:5000/os:1', transport: 'registry', signature: { kind: 'insecure' } }],
  ];
  for (const [ref, want] of cases) {
    it(ref, () => {
      expect(parseOstreeImageReference(ref)).to.deep.equal({ ...want, reference: ref });
    });
  }

  it('returns null for ostree refs, checksums and malformed references', () => {
    for (const ref of ['fedora:fedora/x86_64/coreos/stable', 'a'.repeat(64), 'ostree-unverified-image:nonsense:x', 'ostree-remote-image:fedora', 'ostree-unverified-registry:', '']) {
      expect(parseOstreeImageReference(ref), ref).to.equal(null);
    }
  });

  it('format → parse round-trips for every signature/transport combination', () => {
    for (const transport of ['registry', 'containers-storage', 'oci']) {
      for (const sig of [null, { kind: 'insecure' as const }, { kind: 'ostreeRemote' as const, remote: 'fedora' }, { kind: 'containerPolicy' as const }]) {
        const ref = formatOstreeImageReference('quay.io/x/y:1', transport, sig);
        const parsed = parseOstreeImageReference(ref);
        expect(parsed?.image, ref).to.equal('quay.io/x/y:1');
        expect(parsed?.transport, ref).to.equal(transport);
        expect(parsed?.signature, ref).to.deep.equal(sig ?? { kind: 'insecure' });
      }
    }
    expect(formatOstreeImageReference('quay.io/x:1', 'registry', null)).to.equal('ostree-unverified-registry:quay.io/x:1');
    expect(formatOstreeImageReference('quay.io/x:1', 'registry', { kind: 'containerPolicy' })).to.equal('ostree-image-signed:docker://quay.io/x:1');
  });
});

describe('parseCmdline', () => {
  it('splits on whitespace outside double quotes and keeps the quotes', () => {
    expect(parseCmdline('BOOT_IMAGE=/vmlinuz-6.1 root=UUID=ab-cd ro  quiet foo="a b" bar="x"y console=ttyS0,115200n8\n')).to.deep.equal([
      'BOOT_IMAGE=/vmlinuz-6.1',
      'root=UUID=ab-cd',
      'ro',
      'quiet',
      'foo="a b"',
      'bar="x"y',
      'console=ttyS0,115200n8',
    ]);
    expect(parseCmdline('')).to.deep.equal([]);
    expect(parseCmdline('  \n')).to.deep.equal([]);
    expect(parseCmdline('dyndbg="file x.c +p" tail')).to.deep.equal(['dyndbg="file x.c +p"', 'tail']);
  });

  it('splitKarg separates key and unquoted value', () => {
    expect(splitKarg('foo="a b"')).to.deep.equal({ key: 'foo', value: 'a b' });
    expect(splitKarg('root=UUID=x')).to.deep.equal({ key: 'root', value: 'UUID=x' });
    expect(splitKarg('quiet')).to.deep.equal({ key: 'quiet', value: null });
    expect(splitKarg('empty=')).to.deep.equal({ key: 'empty', value: '' });
  });
});

describe('parseOsRelease', () => {
  it('follows os-release(5) quoting', () => {
    const text = [
      '# comment',
      'NAME="Fedora Linux"',
      "PRETTY_NAME='Fedora Linux 41 (CoreOS)'",
      'ID=fedora',
      'VERSION_ID=41',
      'VARIANT="CoreOS \\"edge\\" \\$HOME \\\\ \\`x\\`"',
      '',
      'ID_LIKE="rhel centos fedora"',
      'BROKEN LINE',
      'HOME_URL="https://fedoraproject.org/"  ',
      'EMPTY=',
    ].join('\n');
    expect(parseOsRelease(text)).to.deep.equal({
      NAME: 'Fedora Linux',
      PRETTY_NAME: 'Fedora Linux 41 (CoreOS)',
      ID: 'fedora',
      VERSION_ID: '41',
      VARIANT: 'CoreOS "edge" $HOME \\ `x`',
      ID_LIKE: 'rhel centos fedora',
      HOME_URL: 'https://fedoraproject.org/',
      EMPTY: '',
    });
  });
});
