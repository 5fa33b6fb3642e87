import { promises as fs } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { runPlans, type RunnerOptions } from '../../harness/run/runner.js';
import type { RunPlan } from '../../harness/scenario/plan.js';
import { FakeGuest, type ScriptedExec } from '../support/fake-guest.js';
import { fixture, hostStateFrom } from '../support/host-state.js';
import { plansFor, scenarioDir } from '../support/step-env.js';

const state = hostStateFrom({ rpmOstree: fixture('state', 'rpm-ostree-clean-container.json'), bootc: fixture('state', 'bootc-a-booted-only.json') });

describe('runPlans against fake guests', () => {
  let dir: string;
  let savedStateDir: string | undefined;
  beforeEach(async () => {
    dir = await scenarioDir();
    savedStateDir = process.env.BOOTPATH_STATE_DIR;
    process.env.BOOTPATH_STATE_DIR = path.join(dir, 'state');
  });
  afterEach(async () => {
    if (savedStateDir === undefined) delete process.env.BOOTPATH_STATE_DIR;
    else process.env.BOOTPATH_STATE_DIR = savedStateDir;
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Runs the plans; each machine start takes the next script from `scripts` (the last repeats). */
  async function run(plans: RunPlan[], scripts: ScriptedExec[][], opts: Partial<RunnerOptions<FakeGuest>> = {}) {
    let starts = 0;
    return runPlans(
      plans,
      {
        startGuest: async (o) => new FakeGuest({ states: [state], script: scripts[Math.min(starts++, scripts.length - 1)], name: o.plan.name }),
        resultsRoot: path.join(dir, 'results'),
        parallel: 1,
        retries: 0,
        failFast: false,
        keep: 'never',
        accel: 'kvm',
        accelReason: 'test',
        timeoutScale: 1,
        backend: 'qemu',
        shard: null,
        resolveImage: async (_p, name) => ({ name, diskPath: '/nonexistent.qcow2', format: 'qcow2', firmware: 'bios', provenance: { image: 'testbed', source: 'testbed', cacheHit: true, verifiedAt: new Date(0).toISOString() } }),
        host: { hostname: 'h', cpus: 2, memoryMiB: 4096, qemu: null, bootpathVersion: 't' },
        signal: new AbortController().signal,
        ...opts,
      },
      () => [],
    );
  }

  it('a run that passes on a retry is flaky, with the failed attempt in its message; the client key is removed', async () => {
    const plans = await plansFor(dir, 'r-flaky', '  - run: check\n');
    const { summary } = await run(plans, [[{ match: /^check$/, exitCode: 1 }], []], { retries: 1 });
    expect(summary.runs.map((r) => [r.verdict, r.attempts])).to.deep.equal([['flaky', 2]]);
    expect(summary.runs[0]!.message).to.equal('attempt 1: failed: step 1 (run: check): exit code 1, expected 0');
    expect(summary.totals).to.include({ runs: 1, flaky: 1 });
    expect(await fs.readdir(path.join(dir, 'state', 'runs', summary.runId)).catch(() => 'gone')).to.equal('gone');
  });

  it('--fail-fast skips the runs not started after a failure, and lists them', async () => {
    const plans = [...(await plansFor(dir, 'r-a', '  - run: "false"\n')), ...(await plansFor(dir, 'r-b', '  - run: "true"\n'))];
    const { summary } = await run(plans, [[{ match: /^false$/, exitCode: 1 }]], { failFast: true });
    expect(summary.runs.map((r) => [r.id, r.verdict])).to.deep.equal([['r-a', 'failed'], ['r-b', 'skipped']]);
    expect(summary.runs[1]!.message).to.equal('not run: --fail-fast stopped scheduling after a failure');
    expect(summary.totals).to.include({ runs: 2, failed: 1, skipped: 1 });
  });
});
