import { expect } from 'chai';
import { buildReportModel } from '../../harness/results/report-model.js';
import type { RunSummary } from '../../harness/results/model.js';
import { emptyTotals } from '../../harness/results/verdicts.js';
import { fixture, hostStateFrom } from '../support/host-state.js';

/** rpm-ostree's view of the same host after `rollback`: the layered deployment moved to the top. */
function rollbackQueuedRpmOstree(): string {
  const status = JSON.parse(fixture('state', 'rpm-ostree-layered-booted.json')) as { deployments: Record<string, unknown>[] };
  const [layered, plain] = status.deployments;
  status.deployments = [{ ...layered, booted: false }, { ...plain, booted: true }];
  return JSON.stringify(status);
}

describe('report timelines', () => {
  it('after a queued rollback the rollback column shows the layered deployment with its packages', () => {
    const state = hostStateFrom({ rpmOstree: rollbackQueuedRpmOstree(), bootc: null });
    expect(state.rollback?.requestedPackages).to.deep.equal(['htop']);
    const summary: RunSummary = {
      schemaVersion: 1,
      runId: 'r',
      startedAt: '2026-11-26T10:00:00.000Z',
      finishedAt: null,
      durationMs: 0,
      host: { hostname: 'h', cpus: 1, memoryMiB: 1, accel: 'tcg', accelReason: 'x', qemu: null, bootpathVersion: '0' },
      options: { parallel: 1, retries: 0, shard: null, keep: 'never', accel: 'tcg', backend: 'qemu' },
      totals: emptyTotals(),
      runs: [{ id: 'rb', scenario: 'rb', file: 'f', cell: {}, questions: [], tags: [], verdict: 'passed', attempts: 1, startedAt: '2026-11-26T10:00:00.000Z', durationMs: 0, guestTimeMs: 0, machines: [], steps: [], findings: [], dir: 'runs/rb', testbed: false }],
      testbed: false,
      interrupted: false,
    };
    const model = buildReportModel(summary, [], () => [{ index: 0, machine: 'default', reason: 'bootc rollback', boot: 2, state }]);
    const row = model.details[0]!.timeline[0]!;
    expect(row.rollback).to.equal('quay.io/fedora/fedora-coreos:stable 41.20250105.2.0 +htop');
    expect(row.booted).to.not.contain('incompatible');
  });
});
