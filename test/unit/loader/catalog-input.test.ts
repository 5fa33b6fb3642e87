import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../../../core/errors.js';
import { loadCatalog } from '../../../images/catalog.js';

/** Malformed catalog entries and the located messages they must give (a catalog-side corpus). */
const entry = (name: string, source: string, extra = ''): string =>
  `name: ${name}\nsummary: s\nsource: ${source}\nprovisioning: ignition\nuser: core\nmanages: [rpm-ostree]\n${extra}`;
const URL_WORDS = 'expected an http(s) URL with a host, without spaces or credentials, e.g. https://example.org/disk.qcow2';

const catalogCorpus: { id: string; yaml: string; expected: string[] }[] = [
  { id: 'url-no-host', yaml: entry('url-no-host', '{ kind: url, url: "https:///disk.qcow2" }'), expected: [`3:27: invalid value "https:///disk.qcow2": ${URL_WORDS}`] },
  { id: 'url-only-scheme', yaml: entry('url-only-scheme', '{ kind: url, url: "http://" }'), expected: [`3:27: invalid value "http://": ${URL_WORDS}`] },
  { id: 'url-space', yaml: entry('url-space', '{ kind: url, url: "https://example.org/a disk.qcow2" }'), expected: [`3:27: invalid value "https://example.org/a disk.qcow2": ${URL_WORDS}`] },
  { id: 'url-newline', yaml: entry('url-newline', '{ kind: url, url: "https://example.org/a\\nHost: evil" }'), expected: [`3:27: invalid value "https://example.org/a\\nHost: evil": ${URL_WORDS}`] },
  { id: 'url-credentials', yaml: entry('url-credentials', '{ kind: url, url: "https://user:pw@example.org/d" }'), expected: [`3:27: invalid value "https://user:pw@example.org/d": ${URL_WORDS}`] },
  { id: 'url-bad-port', yaml: entry('url-bad-port', '{ kind: url, url: "https://example.org:99999999/d" }'), expected: [`3:27: invalid value "https://example.org:99999999/d": ${URL_WORDS}`] },
  {
    id: 'metadata-url-space',
    yaml: entry('metadata-url-space', '{ kind: coreos-stream, stream: stable, metadata-url: "https://example.org/ x.json" }'),
    expected: [`3:62: invalid value "https://example.org/ x.json": ${URL_WORDS}`],
  },
  { id: 'memory-zero', yaml: entry('memory-zero', '{ kind: testbed }', 'memory: 0GiB\n'), expected: ['7:9: memory "0GiB" is out of range: must be at least 128MiB and at most 1TiB'] },
];

describe('catalog entries: malformed input', () => {
  let dir: string;
  beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-catalog-'))));
  afterEach(async () => fs.rm(dir, { recursive: true, force: true }));

  for (const c of catalogCorpus) {
    it(`reports ${c.id} at the exact place`, async () => {
      await fs.writeFile(path.join(dir, `${c.id}.yaml`), c.yaml);
      const err = await loadCatalog([dir]).then(
        () => expect.fail('loaded'),
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(InputError);
      expect((err as InputError).problems.map((p) => `${p.line}:${p.column}: ${p.message}`)).to.deep.equal(c.expected);
    });
  }

  it('accepts the URLs real entries use', async () => {
    const urls = ['https://builds.coreos.fedoraproject.org/streams/stable.json', 'http://127.0.0.1:8080/served.qcow2.gz', 'http://[::1]:9000/d.qcow2?x=1', 'https://example.org'];
    for (const [i, url] of urls.entries()) await fs.writeFile(path.join(dir, `ok-${i}.yaml`), entry(`ok-${i}`, `{ kind: url, url: "${url}" }`));
    expect((await loadCatalog([dir])).size).to.equal(urls.length);
  });
});
