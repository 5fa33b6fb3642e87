import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../core/paths.js';

// The testbed stand-ins' decisions (images/testbed/guest/usr/lib/bootpath-testbed/logic.py) are
// plain Python; their fidelity tests (images/testbed/tests/test_logic.py, cases from the real
// projects' own tests) run here so that `npm test` runs them without a VM.
describe('testbed stand-ins: host-side fidelity tests (python3 -m unittest)', () => {
  it('all pass', function () {
    this.timeout(60_000);
    const r = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', path.join(repoRoot, 'images', 'testbed', 'tests'), '-p', 'test_*.py'], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    if (r.error) throw new Error(`cannot run python3 (needed for the testbed stand-in tests): ${r.error.message}`);
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).to.equal(0);
    const ran = /^Ran (\d+) tests?/m.exec(out);
    expect(ran, out).to.not.equal(null);
    // A discovery that silently finds nothing must not pass.
    expect(Number(ran?.[1])).to.be.at.least(30);
  });
});
