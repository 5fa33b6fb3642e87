import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { InputError } from '../../../core/errors.js';
import { listScenarioFiles, loadScenarioFile, loadScenarioFiles, type LoadContext } from '../../../harness/scenario/load.js';
import { loadContext } from '../../../harness/scenario/questions.js';
import { corpus } from './corpus.js';

describe('scenario loader', () => {
  let ctx: LoadContext;
  let dir: string;
  before(async () => {
    ctx = await loadContext();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-loader-'));
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  async function problemsFor(name: string, yaml: string): Promise<string[]> {
    const file = path.join(dir, name);
    await fs.writeFile(file, yaml);
    try {
      await loadScenarioFile(file, ctx);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      for (const p of err.problems) expect(p.file).to.equal(path.relative(process.cwd(), file).startsWith('..') ? file : path.relative(process.cwd(), file));
      return err.problems.map((p) => `${p.line}:${p.column}: ${p.message}`);
    }
    return [];
  }

  it('has a corpus of at least 40 malformed scenarios', () => {
    expect(corpus.length).to.be.at.least(40);
    expect(new Set(corpus.map((c) => c.id)).size).to.equal(corpus.length);
  });

  for (const c of corpus) {
    it(`reports ${c.id} at the exact place`, async () => {
      const problems = await problemsFor(c.file ?? `${c.id}.yaml`, c.yaml.replace('NAME', c.id));
      expect(c.expected.length, 'a malformed case must expect at least one problem').to.be.greaterThan(0);
      expect(problems).to.deep.equal(c.expected);
    });
  }

  it('loads every shipped scenario', async () => {
    const loaded = await loadScenarioFiles(await listScenarioFiles(), ctx);
    expect(loaded.length).to.be.at.least(3);
    for (const s of loaded) expect(s.plans.length).to.be.at.least(1);
  });

  it('expands a matrix with exclude and include, substituting typed values', async () => {
    const yaml = [
      'name: m',
      'summary: s',
      'matrix:',
      '  driver: [rpm-ostree, bootc]',
      '  n: [1, 2]',
      '  exclude:',
      '    - { driver: bootc, n: 2 }',
      '  include:',
      '    - { driver: bootc, n: 3 }',
      'machine: { image: testbed, cpus: "${{ matrix.n }}" }',
      'steps:',
      '  - update: { via: "${{ matrix.driver }}", image: "img:${{ matrix.n }}" }',
    ].join('\n');
    const file = path.join(dir, 'm.yaml');
    await fs.writeFile(file, yaml);
    const { plans } = await loadScenarioFile(file, ctx);
    expect(plans.map((p) => p.id)).to.deep.equal(['m[driver=rpm-ostree,n=1]', 'm[driver=rpm-ostree,n=2]', 'm[driver=bootc,n=1]', 'm[driver=bootc,n=3]']);
    expect(plans[3]!.machines[0]!.cpus).to.equal(3);
    expect(plans[3]!.steps[0]!.def).to.deep.include({ update: { via: 'bootc', image: 'img:3' } });
  });

  it('drops steps whose `when` does not match the cell', async () => {
    const yaml = [
      'name: w',
      'summary: s',
      'matrix:',
      '  change: [package, karg]',
      'machine: { image: testbed }',
      'steps:',
      '  - rpm-ostree: install',
      '    packages: [tree]',
      '    when: { change: package }',
      '  - rpm-ostree: kargs',
      '    append: [a=1]',
      '    when: { change: [karg] }',
      '  - reboot',
    ].join('\n');
    const file = path.join(dir, 'w.yaml');
    await fs.writeFile(file, yaml);
    const { plans } = await loadScenarioFile(file, ctx);
    expect(plans.map((p) => p.steps.map((s) => s.label))).to.deep.equal([
      ['rpm-ostree install -- tree', 'reboot'],
      ['rpm-ostree kargs --append=a=1', 'reboot'],
    ]);
    expect(plans[1]!.steps.map((s) => s.index)).to.deep.equal([0, 1]);
  });

  it('reports duplicate scenario names across files', async () => {
    const a = path.join(dir, 'dup-a');
    const b = path.join(dir, 'dup-b');
    await fs.mkdir(a, { recursive: true });
    await fs.mkdir(b, { recursive: true });
    const yaml = 'name: same\nsummary: s\nmachine: { image: testbed }\nsteps:\n  - reboot\n';
    await fs.writeFile(path.join(a, 'same.yaml'), yaml);
    await fs.writeFile(path.join(b, 'same.yaml'), yaml);
    try {
      await loadScenarioFiles([path.join(a, 'same.yaml'), path.join(b, 'same.yaml')], ctx);
      expect.fail('expected an error');
    } catch (err) {
      expect(err).to.be.instanceOf(InputError);
      expect((err as InputError).problems[0]!.message).to.match(/^duplicate scenario name 'same' \(also in .*dup-a\/same\.yaml\)$/);
      expect((err as InputError).problems[0]!.line).to.equal(1);
    }
  });

  it('never crashes on random YAML: only located user errors', async () => {
    const yamlScalar = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom('reboot', '${{ matrix.x }}', '${{', 'testbed', 'install'));
    const key = fc.constantFrom('name', 'summary', 'machine', 'steps', 'matrix', 'vars', 'image', 'run', 'reboot', 'rpm-ostree', 'bootc', 'expect', 'booted', 'packages', 'x', 'include', 'exclude', 'timeout');
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, yamlScalar, tie('list'), tie('map')),
      list: fc.array(tie('node'), { maxLength: 4 }),
      map: fc.dictionary(key, tie('node'), { maxKeys: 5 }),
    })).node;
    const { stringify } = await import('yaml');
    const text = fc.oneof(value.map((v) => stringify(v)), fc.string({ maxLength: 200 }), fc.constantFrom('a: [', '{{', ': :', '- - -\n  x', '&a [*a]', '!!binary x', 'a: *b'));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(text, async (yaml) => {
        const file = path.join(dir, `fuzz.yaml`);
        await fs.writeFile(file, yaml);
        n++;
        try {
          await loadScenarioFile(file, ctx);
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
          expect(err.problems.length).to.be.at.least(1);
          for (const p of err.problems) {
            expect(p.line).to.be.at.least(1);
            expect(p.column).to.be.at.least(1);
            expect(p.message).to.be.a('string');
            expect(p.message.length).to.be.greaterThan(0);
          }
        }
      }),
      { numRuns: 300 },
    );
    expect(n).to.be.at.least(300);
  });
});
