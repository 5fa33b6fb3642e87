import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../core/paths.js';
import { parseBootcStatus } from '../../harness/state/bootc.js';
import { parseRpmOstreeStatus } from '../../harness/state/rpm-ostree.js';
import { bootcShapeProblems, rpmOstreeShapeProblems } from '../support/status-shapes.js';

const dir = path.join(repoRoot, 'test', 'fixtures', 'testbed');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('testbed status outputs have the real tools\' shapes (golden, structure only)', () => {
  it('has captured outputs of both tools', () => {
    expect(files.filter((f) => f.startsWith('bootc-')).length).to.be.at.least(5);
    expect(files.filter((f) => f.startsWith('rpm-ostree-')).length).to.be.at.least(5);
  });
  for (const f of files) {
    it(f, () => {
      const text = readFileSync(path.join(dir, f), 'utf8');
      const doc = JSON.parse(text) as Record<string, unknown>;
      if (f.startsWith('bootc-')) {
        expect(bootcShapeProblems(doc)).to.deep.equal([]);
        // Canonical JSON (RFC 8785 style): compact with sorted keys, as bootc ≥ 1.5 writes it.
        expect(text.trim()).to.equal(JSON.stringify(sortKeys(doc)));
        expect(() => parseBootcStatus(text)).to.not.throw();
      } else {
        expect(rpmOstreeShapeProblems(doc)).to.deep.equal([]);
        expect(() => parseRpmOstreeStatus(text)).to.not.throw();
      }
    });
  }
  it('the reference fixtures themselves pass the same checks', () => {
    const state = path.join(repoRoot, 'test', 'fixtures', 'state');
    for (const f of ['bootc-a-booted-only.json', 'bootc-b-staged.json', 'bootc-c-rollback.json', 'bootc-d-layered-incompatible.json']) {
      expect(bootcShapeProblems(JSON.parse(readFileSync(path.join(state, f), 'utf8'))), f).to.deep.equal([]);
    }
    for (const f of ['rpm-ostree-clean-container.json', 'rpm-ostree-layered-staged.json']) {
      expect(rpmOstreeShapeProblems(JSON.parse(readFileSync(path.join(state, f), 'utf8'))), f).to.deep.equal([]);
    }
  });
});

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}
