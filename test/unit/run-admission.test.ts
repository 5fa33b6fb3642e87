import { expect } from 'chai';
import { autoParallel, machineVcpus, MemoryBudget, oversubscription } from '../../harness/run/admission.js';
import type { RunPlan } from '../../harness/scenario/plan.js';

const plan = (id: string, memoryMiB = 1024): RunPlan =>
  ({ id, machines: [{ name: 'default', memoryMiB }] }) as unknown as RunPlan;

describe('admission', () => {
  it('stretches timeouts only when the overlapping runs want more vCPUs than the host has', () => {
    const auto = (id: string) => ({ id, machines: [{ name: 'default', memoryMiB: 1024, cpus: null }] }) as unknown as RunPlan;
    const pinned = (id: string, cpus: number) => ({ id, machines: [{ name: 'default', memoryMiB: 1024, cpus }] }) as unknown as RunPlan;
    const four = [auto('a'), auto('b'), auto('c'), auto('d')];
    expect(oversubscription(four, 'tcg', 1, 2)).to.equal(1); // one 2-vCPU guest on 2 cores
    expect(oversubscription(four, 'tcg', 2, 2)).to.equal(1); // two 1-vCPU guests
    expect(oversubscription(four, 'tcg', 4, 2)).to.equal(2); // four 1-vCPU guests on 2 cores
    expect(oversubscription([pinned('a', 4), pinned('b', 2), pinned('c', 1)], 'kvm', 2, 4)).to.equal(1.5); // the two largest overlap
    expect(oversubscription(four, 'kvm', 4, 16)).to.equal(1);
  });

  it('sizes vCPUs of machines without an explicit cpus to the host when runs overlap under TCG', () => {
    // a run alone, or KVM: 2 vCPUs
    expect(machineVcpus(null, 'tcg', 1, 2)).to.equal(2);
    expect(machineVcpus(null, 'kvm', 4, 2)).to.equal(2);
    // TCG, two runs on two cores: one vCPU each, so the host is not oversubscribed
    expect(machineVcpus(null, 'tcg', 2, 2)).to.equal(1);
    expect(machineVcpus(null, 'tcg', 4, 2)).to.equal(1);
    // a large host keeps 2 even with several runs
    expect(machineVcpus(null, 'tcg', 4, 16)).to.equal(2);
    // what the scenario says wins
    expect(machineVcpus(3, 'tcg', 2, 2)).to.equal(3);
    expect(machineVcpus(1, 'kvm', 1, 64)).to.equal(1);
  });

  it('auto parallelism is bounded by CPUs, memory and the number of runs', () => {
    const plans = [plan('a'), plan('b'), plan('c'), plan('d')];
    expect(autoParallel(plans, 2, 24_000)).to.equal(2);
    expect(autoParallel(plans, 16, 4_000)).to.equal(2);
    expect(autoParallel(plans.slice(0, 1), 16, 64_000)).to.equal(1);
    expect(autoParallel(plans, 16, 500)).to.equal(1);
  });

  it('the memory budget admits by weight and wakes waiters in order', async () => {
    const budget = new MemoryBudget(2000);
    const order: string[] = [];
    const r1 = await budget.acquire(1500);
    const second = budget.acquire(1000).then((release) => (order.push('second'), release));
    const third = budget.acquire(400).then((release) => (order.push('third'), release));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).to.deep.equal([]);
    r1();
    (await second)();
    (await third)();
    expect(order).to.deep.equal(['second', 'third']);
  });
});
