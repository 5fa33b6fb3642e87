/**
 * The Q1 cells come from the `mcd` records of runs: a call's outcome per phase, the bootc driver's
 * command shown as what ran instead, failures winning over successes, testbed evidence labelled —
 * and the report shows the table under Q1 only when some run replayed the daemon.
 */
import { expect } from 'chai';
import { loadCalls, type CallsFile } from '../../harness/mcd/calls.js';
import { loadGoTypes, type GoTypes } from '../../harness/mcd/daemon-view.js';
import { q1Outcomes } from '../../harness/mcd/q1-outcomes.js';
import type { RunResult, RunSummary, StepResult } from '../../harness/results/model.js';
import { buildReportModel } from '../../harness/results/report-model.js';
import { renderHtml } from '../../harness/results/render-html.js';
import { renderMarkdown } from '../../harness/results/render-markdown.js';
import type { ItemRecord } from '../../harness/mcd/execute.js';
import { loadQuestions } from '../../harness/scenario/questions.js';
import { fixture, hostStateFrom } from '../support/host-state.js';

const follows = { file: 'pkg/daemon/update.go', function: 'applyLayeredOSChanges' };
const item = (call: string | null, command: string, status: ItemRecord['status'], message = 'exit 0'): ItemRecord => ({ id: `i-${command}`, kind: 'command', part: 'sequence', call, command, follows, status, exitCode: status === 'ok' ? 0 : 1, durationMs: 5, message });

function step(index: number, phase: 'rpmOstreeHost' | 'afterSwitch' | 'bootcDriver', items: ItemRecord[]): StepResult {
  return {
    index,
    label: `mcd step ${index}`,
    kind: 'mcd',
    machine: 'default',
    status: 'recorded',
    startedAt: '2026-12-03T06:00:00.000Z',
    durationMs: 10,
    mcd: { operation: 'apply-os-changes', driver: phase === 'bootcDriver' ? 'bootc' : 'rpm-ostree', phase, outcome: 'completed', mcoCommit: 'x', backoffScale: 0.1, items },
  };
}

function run(id: string, steps: StepResult[], testbed = true): RunResult {
  return {
    id,
    scenario: 'q1-mcd-calls',
    file: 'scenarios/q1-mcd-calls.yaml',
    cell: {},
    questions: ['Q1'],
    tags: [],
    verdict: 'passed',
    attempts: 1,
    startedAt: '2026-12-03T06:00:00.000Z',
    durationMs: 1000,
    guestTimeMs: 900,
    machines: [],
    steps,
    findings: [],
    dir: '',
    testbed,
  };
}

describe('mcd Q1 outcomes from run records', () => {
  let calls: CallsFile;
  let goTypes: GoTypes;
  before(async () => {
    calls = await loadCalls();
    goTypes = await loadGoTypes();
  });

  it('per call and phase: ok, failed (with how it went elsewhere), not possible; the bootc command shown as what ran', () => {
    const r = run('q1', [
      step(0, 'rpmOstreeHost', [
        item('cleanup-pending', 'rpm-ostree cleanup -p', 'ok'),
        item('rebase-registry', 'rpm-ostree rebase --experimental ostree-unverified-registry:img:2', 'ok'),
        item('override-remove-kernel', 'rpm-ostree override remove kernel --install kernel-rt-core', 'not-possible', 'the testbed stand-in does not model this'),
        item(null, 'mokutil --sb-state', 'not-possible'),
        item('kargs-delete-if-present-append', 'rpm-ostree kargs --delete-if-present=a=1 --append=a=2', 'skipped'),
        { ...item('ex-deploy-from-self', 'systemd-run … rpm-ostree ex deploy-from-self /run/host', 'skipped', 'not reached: not possible before it: podman is not on this host'), blockedHere: true },
      ]),
      step(1, 'afterSwitch', [item('cleanup-pending', 'rpm-ostree cleanup -p', 'ok'), item('cleanup-pending', 'rpm-ostree cleanup -p', 'failed', 'exit 1: error: busy')]),
      step(2, 'bootcDriver', [item('rebase-registry', 'bootc switch img:2', 'ok'), item('status-json', 'bootc status --json', 'ok')]),
    ]);
    const o = q1Outcomes(calls, [r]);
    expect(o['cleanup-pending']).to.deep.equal({
      rpmOstreeHost: { evidence: 'testbed', status: 'ok' },
      afterSwitch: { evidence: 'testbed', status: 'failed', detail: '1× failed: exit 1: error: busy; also ok 1×' },
    });
    expect(o['rebase-registry']?.rpmOstreeHost).to.deep.equal({ evidence: 'testbed', status: 'ok' });
    expect(o['rebase-registry']?.bootcDriver).to.deep.equal({ evidence: 'testbed', status: 'ok', command: 'bootc switch <image>' });
    expect(o['status-json']?.bootcDriver).to.deep.include({ status: 'ok', command: 'bootc status --json' });
    expect(o['override-remove-kernel']?.rpmOstreeHost).to.deep.equal({ evidence: 'testbed', status: 'not-possible', detail: 'the testbed stand-in does not model this' });
    expect(o['ex-deploy-from-self']?.rpmOstreeHost).to.deep.include({ status: 'not-possible', detail: 'not reached: not possible before it: podman is not on this host' });
    // Not reached is not an outcome.
    expect(o['kargs-delete-if-present-append']).to.equal(undefined);
    expect(Object.keys(o)).to.not.include('null');
  });

  it('real-image runs are real evidence', () => {
    const o = q1Outcomes(calls, [run('real', [step(0, 'rpmOstreeHost', [item('cleanup-rollback', 'rpm-ostree cleanup -r', 'ok')])], false)]);
    expect(o['cleanup-rollback']?.rpmOstreeHost?.evidence).to.equal('real');
  });

  it('the report puts the table under Q1, labelled testbed, and leaves it out when no run replayed the daemon', async () => {
    const questions = await loadQuestions();
    const summary = (runs: RunResult[]): RunSummary => ({
      schemaVersion: 1,
      runId: 'r',
      startedAt: '2026-12-03T06:00:00.000Z',
      finishedAt: '2026-12-03T06:10:00.000Z',
      durationMs: 1,
      host: { hostname: 'h', cpus: 2, memoryMiB: 1, accel: 'tcg', accelReason: 'x', qemu: 'q', bootpathVersion: '0' },
      options: { parallel: 1, retries: 0, shard: null, keep: 'never', accel: 'auto', backend: 'qemu' },
      totals: { runs: runs.length, passed: runs.length, failed: 0, error: 0, flaky: 0, interrupted: 0, 'timed-out': 0, skipped: 0 },
      runs,
      testbed: true,
      interrupted: false,
    });
    const withMcd = buildReportModel(summary([run('q1', [step(0, 'bootcDriver', [item('rebase-registry', 'bootc switch img:2', 'ok')])])]), questions, () => [], { calls, goTypes });
    expect(withMcd.q1?.rows).to.have.length(calls.calls.length);
    const md = renderMarkdown(withMcd);
    const q1At = md.indexOf('### Q1 ');
    const tableAt = md.indexOf("**The machine-config-daemon's calls, one row per call shape**");
    expect(tableAt).to.be.greaterThan(q1At);
    expect(tableAt).to.be.lessThan(md.indexOf('### Q2 '));
    expect(md).to.contain('`bootc switch <image>`: ok [testbed]');
    expect(renderHtml(withMcd)).to.contain('<td class="ok"><code>bootc switch &lt;image&gt;</code>: ok [testbed]</td>');
    expect(buildReportModel(summary([run('plain', [])]), questions, () => [], { calls, goTypes }).q1).to.equal(null);

    // Every bootc status a run read goes through the daemon's Go types; a layered host's null booted image is the daemon's panic.
    const layered = hostStateFrom({ bootc: fixture('state', 'bootc-d-layered-incompatible.json') });
    const clean = hostStateFrom({ bootc: fixture('state', 'bootc-a-booted-only.json') });
    const states = [
      { index: 0, machine: 'default', reason: 'first boot', boot: 1, state: clean },
      { index: 1, machine: 'default', reason: 'after rpm-ostree install', boot: 2, state: layered },
      { index: 2, machine: 'default', reason: 'after reboot', boot: 3, state: layered },
    ];
    const viewed = buildReportModel(summary([run('q5', [])]), questions, () => states, { calls, goTypes });
    const panic = viewed.daemonView.find((d) => d.id === 'booted-image-info-panic');
    expect(panic?.states.map((st) => st.index)).to.deep.equal([1, 2]);
    expect(panic?.testbed).to.equal(true);
    const text = renderMarkdown(viewed);
    expect(text.indexOf('**What a bootc-driven daemon would read')).to.be.greaterThan(text.indexOf('### Q5 '));
    expect(text).to.match(/- `q5` · \*testbed[^*]*\* \*\*booted-image-info-panic\*\*: BootcClient.GetBootedImageInfo panics .* — state reads 1 \(after rpm-ostree install\), 2 \(after reboot\)/u);
  });
});
