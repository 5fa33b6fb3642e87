import { promises as fs, symlinkSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../core/paths.js';
import { estimatedCost } from '../../harness/run/schedule.js';
import { scaledTimeouts, stepTimeoutMs } from '../../harness/run/timeouts.js';
import { Step } from '../../harness/scenario/schema.js';
import { sourceProblem, destinationIn } from '../../harness/steps/copy.js';
import { kindOf, STEP_KIND_NAMES, STEP_KINDS } from '../../harness/steps/registry.js';
import { plansFor, scenarioDir } from '../support/step-env.js';

/** The step kinds the README's "Writing scenarios" step table lists (first cell of each row). */
async function readmeStepKinds(): Promise<string[]> {
  const lines = (await fs.readFile(path.join(repoRoot, 'README.md'), 'utf8')).split('\n');
  const start = lines.findIndex((l) => /^\| step \| what it does \|$/.test(l));
  expect(start, 'README has a "| step | what it does |" table').to.be.greaterThan(-1);
  const rows = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const m = /^\| `([a-z][a-z-]*)/.exec(line);
    expect(m, `README step row names its kind first: ${line.slice(0, 60)}`).to.not.equal(null);
    rows.push(m![1]!);
  }
  return rows;
}

describe('step kind registry', () => {
  it('the README step table lists exactly the registered kinds', async () => {
    const listed = await readmeStepKinds();
    expect(new Set(listed).size, 'each kind has one row').to.equal(listed.length);
    expect([...listed].sort()).to.deep.equal([...STEP_KIND_NAMES].sort());
  });

  it('each module is filed under its own kind, and the Step schema offers every kind once', () => {
    for (const k of STEP_KIND_NAMES) expect(STEP_KINDS[k].kind).to.equal(k);
    const members = (Step as unknown as { anyOf: { 'x-action'?: string }[] }).anyOf;
    expect(members.flatMap((m) => m['x-action'] ?? [])).to.deep.equal(STEP_KIND_NAMES);
  });

  it('picks the kind by its action key; record and an rpm-ostree reboot are modifiers there', () => {
    expect(kindOf({ run: 'ls', record: 'r' }).kind).to.equal('run');
    expect(kindOf({ record: 'r', observe: ['kargs'] }).kind).to.equal('record');
    expect(kindOf({ 'rpm-ostree': 'install', packages: ['x'], reboot: true }).kind).to.equal('rpm-ostree');
    expect(() => kindOf({ run: 'ls', reboot: true } as never)).to.throw(/internal: a validated step has actions \[run, reboot\]/);
  });

  it('a tool step that reboots the guest gets the reboot budget and weight on top of its own', async () => {
    const dir = await scenarioDir();
    try {
      const [plan] = await plansFor(dir, 'budget', '  - rpm-ostree: install\n    packages: [a]\n  - rpm-ostree: install\n    packages: [a]\n    reboot: true\n  - reboot\n  - wait: 90s\n');
      const t = scaledTimeouts(1);
      const [plain, rebooting, reboot, wait] = plan!.steps.map((s) => stepTimeoutMs(s, t));
      expect(plain).to.equal(t.osOperationMs);
      expect(rebooting).to.equal(t.osOperationMs + reboot!);
      expect(wait).to.be.greaterThan(90_000);
      const [withReboot] = await plansFor(dir, 'budget2', '  - rpm-ostree: install\n    packages: [a]\n    reboot: true\n');
      const [without] = await plansFor(dir, 'budget3', '  - rpm-ostree: install\n    packages: [a]\n');
      expect(estimatedCost(withReboot!) - estimatedCost(without!)).to.equal(55);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('copy sources must be regular files whose real path stays in the scenario folder', async () => {
    const dir = await scenarioDir();
    try {
      await fs.mkdir(path.join(dir, 'sub'));
      await fs.writeFile(path.join(dir, 'ok.txt'), 'x');
      symlinkSync('/etc/hostname', path.join(dir, 'link'));
      symlinkSync('/dev/zero', path.join(dir, 'zero'));
      expect(sourceProblem(dir, 'ok.txt')).to.equal(null);
      expect(sourceProblem(dir, 'sub')).to.equal("copy source 'sub' is not a regular file");
      expect(sourceProblem(dir, 'link')).to.match(/^copy source 'link' resolves to .*, outside the scenario's folder$/);
      expect(sourceProblem(dir, 'zero')).to.match(/outside the scenario's folder|device/);
      expect(sourceProblem(dir, '/proc/self/environ')).to.equal("copy source '/proc/self/environ' is outside the scenario's folder (it is relative to it)");
      expect(sourceProblem(dir, 'missing')).to.match(/does not exist/);
      expect(sourceProblem(dir, 'missing', true)).to.equal(null);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('from-guest destinations are contained by resolved path, not by string prefix', () => {
    const files = '/r/run-1/files';
    expect(destinationIn(files, 'a/b.txt')).to.equal('/r/run-1/files/a/b.txt');
    expect(destinationIn(files, '../../run-1-evil/x')).to.equal(null);
    expect(destinationIn(files, '../files-evil/x')).to.equal(null);
    expect(destinationIn(files, '/etc/passwd')).to.equal(null);
    expect(destinationIn(files, '.')).to.equal(null);
  });
});
