import { expect } from 'chai';
import { listScenarioFiles, loadScenarioFiles } from '../../harness/scenario/load.js';
import { loadContext } from '../../harness/scenario/questions.js';
import type { RunPlan } from '../../harness/scenario/plan.js';
import { estimatedCost, scheduleOrder } from '../../harness/run/schedule.js';

describe('run scheduling (longest estimated run first)', () => {
  let libraryPlans: RunPlan[];

  before(async () => {
    const loaded = await loadScenarioFiles(await listScenarioFiles(), await loadContext());
    libraryPlans = loaded.flatMap((l) => l.plans).filter((p) => p.tags.includes('testbed'));
  });

  it('estimates a run by its boots and tool calls, so more reboots cost more', () => {
    const byId = new Map(libraryPlans.map((p) => [p.id, estimatedCost(p)]));
    // the tool-boundary scenario reboots five times, the staged-karg cell twice
    expect(byId.get('q3-tool-boundary')).to.be.greaterThan(byId.get('q3-kargs-then-switch[rebooted=no]')!);
    expect(byId.get('q3-kargs-then-switch[rebooted=yes]')).to.be.greaterThan(byId.get('q3-kargs-then-switch[rebooted=no]')!);
  });

  it('hands overlapping runs out longest first, ties in the given order', () => {
    const order = scheduleOrder(libraryPlans, 2);
    expect(order.map((p) => p.id).sort()).to.deep.equal(libraryPlans.map((p) => p.id).sort());
    const costs = order.map(estimatedCost);
    expect(costs).to.deep.equal([...costs].sort((a, b) => b - a));
    const position = (id: string) => order.findIndex((p) => p.id === id);
    expect(position('q3-tool-boundary')).to.be.lessThan(position('q3-kargs-then-switch[rebooted=no]'));
    // equal estimates (the two driver cells) keep their matrix order
    const q4 = order.filter((p) => p.scenario === 'q4-transition-next-major').map((p) => p.id);
    expect(q4).to.deep.equal(libraryPlans.filter((p) => p.scenario === 'q4-transition-next-major').map((p) => p.id));
  });

  it('keeps the given order when runs go one at a time, and is deterministic', () => {
    expect(scheduleOrder(libraryPlans, 1)).to.deep.equal(libraryPlans);
    expect(scheduleOrder(libraryPlans, 3).map((p) => p.id)).to.deep.equal(scheduleOrder([...libraryPlans], 3).map((p) => p.id));
  });
});
