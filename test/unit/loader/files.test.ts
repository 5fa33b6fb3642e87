import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { InputError } from '../../../core/errors.js';
import { firstInvalidUtf8, MAX_YAML_BYTES, readYamlFile } from '../../../core/yaml-source.js';
import { loadCatalog } from '../../../images/catalog.js';
import { main } from '../../../harness/cli/main.js';

/**
 * User-given files that are not scenario text: every read is bounded (regular files only, a size
 * cap), odd bytes are located errors, and the content of a file that is not a bootpath file never
 * appears in a message. Real FIFOs, device symlinks and files on disk.
 */
type FileCase = {
  id: string;
  /** Make the file at `file`; resolve when it is there. */
  make: (file: string) => Promise<void>;
  expected: string;
};

const mkfifo = (file: string): Promise<void> =>
  new Promise((resolve, reject) => spawn('mkfifo', [file]).on('exit', (code) => (code === 0 ? resolve() : reject(new Error('mkfifo failed')))));

const fileCorpus: FileCase[] = [
  { id: 'fifo', make: mkfifo, expected: '1:1: cannot read: a FIFO (named pipe), not a regular file' },
  { id: 'symlink-dev-zero', make: (f) => fs.symlink('/dev/zero', f), expected: '1:1: cannot read: a character device, not a regular file' },
  { id: 'directory', make: (f) => fs.mkdir(f), expected: '1:1: cannot read: a directory, not a regular file' },
  { id: 'dangling-symlink', make: (f) => fs.symlink('/nonexistent/x.yaml', f), expected: '1:1: cannot read: no such file' },
  {
    id: 'too-big',
    make: (f) => fs.writeFile(f, `name: x\n#${'x'.repeat(MAX_YAML_BYTES)}\n`),
    expected: `1:1: cannot read: ${MAX_YAML_BYTES + 10} bytes, larger than the ${MAX_YAML_BYTES}-byte limit for this kind of file`,
  },
  { id: 'invalid-utf8', make: (f) => fs.writeFile(f, Buffer.from('name: x\nsummary: "caf\xe9 ok"\n', 'latin1')), expected: '2:14: invalid UTF-8 (byte 0xe9); YAML files must be UTF-8 text' },
  { id: 'truncated-utf8', make: (f) => fs.writeFile(f, Buffer.concat([Buffer.from('name: é'), Buffer.from([0xe2, 0x82])])), expected: '1:8: invalid UTF-8 (byte 0xe2); YAML files must be UTF-8 text' },
  { id: 'overlong-utf8', make: (f) => fs.writeFile(f, Buffer.from([0x61, 0x3a, 0x20, 0xc0, 0xaf])), expected: '1:4: invalid UTF-8 (byte 0xc0); YAML files must be UTF-8 text' },
  { id: 'binary', make: (f) => fs.writeFile(f, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00])), expected: '1:8: a NUL byte: this is a binary file, not YAML text' },
];

async function write(dir: string, name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, text);
  return file;
}

describe('bounded reads of user files', () => {
  let dir: string;
  beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-files-'))));
  afterEach(async () => fs.rm(dir, { recursive: true, force: true }));

  for (const c of fileCorpus) {
    it(`refuses ${c.id} with a located message, promptly`, async () => {
      const file = path.join(dir, `${c.id}.yaml`);
      await c.make(file);
      const started = Date.now();
      const err = await readYamlFile(file, `${c.id}.yaml`).then(
        () => expect.fail('read succeeded'),
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(InputError);
      const problems = (err as InputError).problems.map((p) => `${p.line}:${p.column}: ${p.message}`);
      expect(problems).to.deep.equal([c.expected]);
      expect(Date.now() - started, 'no hang').to.be.below(2000);
    });
  }

  it('a complex mapping key is a located error and no Node warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const err = await readYamlFile(await write(dir, 'key.yaml', 'a: 1\n? [x, y]\n: 2\n'), 'key.yaml').catch((e: unknown) => e);
      expect((err as InputError).render()).to.equal('key.yaml:2:3: YAML: a mapping key must be a plain value (text or a number), not a list or mapping');
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).to.deep.equal([]);
  });

  it('finds the first byte that is not well-formed UTF-8', () => {
    expect(firstInvalidUtf8(Buffer.from('plain ascii'))).to.equal(-1);
    expect(firstInvalidUtf8(Buffer.from('é € 𝄞'))).to.equal(-1);
    expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).to.equal(0); // a UTF-16 surrogate
    expect(firstInvalidUtf8(Buffer.from([0x41, 0xf4, 0x90, 0x80, 0x80]))).to.equal(1); // above U+10FFFF
    expect(firstInvalidUtf8(Buffer.from([0x41, 0x80]))).to.equal(1); // a lone continuation byte
  });

  it('a catalog directory with a FIFO and a /dev/zero symlink named *.yaml fails fast with located errors', async () => {
    await mkfifo(path.join(dir, 'pipe.yaml'));
    await fs.symlink('/dev/zero', path.join(dir, 'zero.yaml'));
    const started = Date.now();
    const err = await loadCatalog([dir]).then(
      () => expect.fail('loaded'),
      (e: unknown) => e,
    );
    expect(Date.now() - started).to.be.below(2000);
    expect((err as InputError).render()).to.equal(
      [`${dir}/pipe.yaml:1:1: cannot read: a FIFO (named pipe), not a regular file`, `${dir}/zero.yaml:1:1: cannot read: a character device, not a regular file`].join('\n'),
    );
  });

  describe('the CLI on files that are not scenarios', () => {
    const cli = async (args: string[]): Promise<{ code: number; out: string }> => {
      let out = '';
      const code = await main(args, { stdout: (t) => (out += t), stderr: (t) => (out += t), isTTY: false });
      return { code, out };
    };
    const shadow = 'root:$y$j9T$secrethash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n';

    it('refuses a path that is not a .yaml file before reading it', async () => {
      const file = path.join(dir, 'shadow');
      await fs.writeFile(file, shadow);
      const r = await cli([file, '--dry-run']);
      expect(r.code).to.equal(2);
      expect(r.out).to.equal(`not a scenario file: ${file} (scenario files are YAML files named <name>.yaml or <name>.yml)\n`);
    });

    it('never echoes a line of a foreign file that happens to be named *.yaml', async () => {
      const file = path.join(dir, 'shadow.yaml');
      await fs.writeFile(file, shadow);
      for (const args of [[file, '--dry-run'], ['validate', file]]) {
        const r = await cli(args);
        expect(r.code).to.equal(2);
        expect(r.out).to.not.include('secrethash');
        expect(r.out).to.not.include('daemon');
        expect(r.out).to.include(`${file}:1:1: this is not a file of the expected kind: none of its 2 top-level keys is one of name, summary`);
      }
    });

    it('exits 2 on a FIFO named *.yaml instead of hanging', async () => {
      const file = path.join(dir, 'pipe.yaml');
      await mkfifo(file);
      const r = await cli(['validate', file]);
      expect(r.code).to.equal(2);
      expect(r.out).to.equal(`not a scenario file: ${file} is not a regular file\n`);
    });
  });
});
