import { expect } from 'chai';
import fc from 'fast-check';
import { shardPlans as admissionShardPlans } from '../../harness/run/admission.js';
import { estimatedCost } from '../../harness/run/schedule.js';
import { partitionPlans, shardCount, shardPlans } from '../../harness/run/shard.js';
import { listScenarioFiles, loadScenarioFiles } from '../../harness/scenario/load.js';
import { loadContext } from '../../harness/scenario/questions.js';
import type { RunPlan } from '../../harness/scenario/plan.js';

const load = (shard: RunPlan[], cost: (p: RunPlan) => number = estimatedCost) => shard.reduce((sum, p) => sum + cost(p), 0);

describe('--shard (balanced by estimated duration)', () => {
  let library: RunPlan[];

  before(async () => {
    library = (await loadScenarioFiles(await listScenarioFiles(), await loadContext())).flatMap((l) => l.plans);
  });

  it('splits the library completely and disjointly, the same way every time', () => {
    for (const total of [1, 2, 3, 5]) {
      const shards = [...Array(total).keys()].map((i) => shardPlans(library, { index: i + 1, total }).map((p) => p.id));
      expect(shards.flat().sort()).to.deep.equal(library.map((p) => p.id).sort());
      expect(new Set(shards.flat()).size).to.equal(library.length);
      const again = [...Array(total).keys()].map((i) => shardPlans([...library].reverse(), { index: i + 1, total }).map((p) => p.id));
      expect(again, 'independent of the input order').to.deep.equal(shards);
    }
    expect(admissionShardPlans).to.equal(shardPlans);
  });

  it('balances estimated time, not run count: shards end within one run of each other', () => {
    const testbed = library.filter((p) => p.tags.includes('testbed'));
    const shards = partitionPlans(testbed, 3);
    const loads = shards.map((s) => load(s));
    const longest = Math.max(...testbed.map(estimatedCost));
    expect(Math.max(...loads) - Math.min(...loads)).to.be.at.most(longest);
  });

  it('gives a shard with one long run fewer runs: two shards of 1 long + 4 short runs split 1 / 4', () => {
    const plans = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, cost: id === 'c' ? 400 : 100 }) as unknown as RunPlan & { cost: number });
    const cost = (p: RunPlan) => (p as RunPlan & { cost: number }).cost;
    const shards = partitionPlans(plans, 2, cost).map((s) => s.map((p) => p.id));
    expect(shards).to.deep.equal([['c'], ['a', 'b', 'd', 'e']]);
  });

  it('keeps the LPT bound on any costs: no shard exceeds the mean by more than the largest run', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 8 }), (costs, total) => {
        const plans = costs.map((c, i) => ({ id: `run-${String(i).padStart(2, '0')}`, cost: c }) as unknown as RunPlan & { cost: number });
        const cost = (p: RunPlan) => (p as RunPlan & { cost: number }).cost;
        const shards = partitionPlans(plans, total, cost);
        expect(shards).to.have.length(total);
        expect(shards.flat().length).to.equal(plans.length);
        const sum = costs.reduce((a, b) => a + b, 0);
        for (const s of shards) expect(load(s, cost)).to.be.at.most(sum / total + Math.max(...costs));
      }),
    );
  });

  it('an empty shard is possible when there are more shards than runs', () => {
    const two = library.slice(0, 2);
    expect([1, 2, 3].map((i) => shardPlans(two, { index: i, total: 3 }).length).sort()).to.deep.equal([0, 1, 1]);
  });

  it('shard count: total estimate over the per-runner budget, within [1, max] and at most one per run', () => {
    expect(shardCount([], 100, 8)).to.equal(1);
    expect(shardCount([50, 50, 50], 100, 8)).to.equal(2);
    expect(shardCount([50, 50, 50], 10, 8)).to.equal(3);
    expect(shardCount([500, 500, 500, 500], 100, 2)).to.equal(2);
    expect(shardCount([10], 1000, 8)).to.equal(1);
  });
});
