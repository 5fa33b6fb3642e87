import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { repoRoot } from '../../core/paths.js';
import { renderJunit } from '../../harness/results/junit.js';
import { resultsPaths, runSlug } from '../../harness/results/layout.js';
import type { Finding, RunResult, RunSummary } from '../../harness/results/model.js';
import { buildReportModel } from '../../harness/results/report-model.js';
import { renderHtml } from '../../harness/results/render-html.js';
import { renderMarkdown } from '../../harness/results/render-markdown.js';
import { TESTBED_LABEL } from '../../harness/results/testbed.js';
import { createReporters, selectReporters } from '../../harness/reporters/registry.js';
import { describeReporterFailures, EventBus, type Reporter } from '../../harness/run/events.js';
import { parseCli } from '../../harness/cli/args.js';
import { REPORTERS } from '../../harness/reporters/registry.js';
import { REPORTER_NAMES } from '../../harness/reporters/names.js';
import { RunLog } from '../../harness/results/run-log.js';
import { statesFromFiles } from '../../harness/results/state-files.js';
import { writeResultFiles } from '../../harness/reporters/files.js';
import { stepLineProblems, summaryProblems } from '../../harness/results/validate.js';
import { loadQuestions } from '../../harness/scenario/questions.js';
import { fixture, hostStateFrom } from '../support/host-state.js';
import type { RunPlan } from '../../harness/scenario/plan.js';

const finding = (id: string, runId: string, ok: boolean | null, outcome: string): Finding => ({
  id,
  runId,
  scenario: 'q4',
  cell: { driver: runId.includes('bootc') ? 'bootc' : 'rpm-ostree' },
  questions: ['Q4', 'Q5'],
  step: 3,
  label: 'update via x',
  kind: 'action',
  outcome,
  ok,
  command: 'bootc switch img',
  exitCode: ok ? 0 : 1,
  stderrExcerpt: ok ? undefined : 'error: <nope> & "quoted"',
  testbed: true,
});

function run(id: string, verdict: RunResult['verdict'], findings: Finding[]): RunResult {
  return {
    id,
    scenario: 'q4',
    file: 'scenarios/q4.yaml',
    cell: findings[0]?.cell ?? {},
    questions: ['Q4', 'Q5'],
    tags: [],
    verdict,
    message: verdict === 'passed' ? undefined : 'step 6 (expect booted): booted.packages expected hello, was []\x07',
    errorKind: verdict === 'error' ? 'machine-died' : undefined,
    attempts: 1,
    startedAt: '2026-11-26T10:00:00.000Z',
    durationMs: 61_234,
    guestTimeMs: 60_000,
    machines: [{ name: 'default', image: { image: 'testbed', source: 'testbed', cacheHit: true, verifiedAt: '2026-11-26T10:00:00Z', testbed: true }, memoryMiB: 1024, cpus: 2, boots: 3 }],
    steps: [],
    findings,
    dir: `runs/${runSlug(id)}`,
    testbed: true,
  };
}

function summary(): RunSummary {
  const a = run('q4[driver=rpm-ostree]', 'passed', [finding('update-to-next-major', 'q4[driver=rpm-ostree]', true, 'succeeded (exit 0)')]);
  const b = run('q4[driver=bootc]', 'failed', [finding('update-to-next-major', 'q4[driver=bootc]', false, 'refused (exit 1)')]);
  const c = run('other', 'error', []);
  c.scenario = 'other';
  return {
    schemaVersion: 1,
    runId: 'r1',
    startedAt: '2026-11-26T10:00:00.000Z',
    finishedAt: '2026-11-26T10:02:00.000Z',
    durationMs: 120_000,
    host: { hostname: 'h', cpus: 2, memoryMiB: 24000, accel: 'tcg', accelReason: 'KVM probe failed', qemu: '/usr/bin/qemu', bootpathVersion: '0.1.0' },
    options: { parallel: 2, retries: 0, shard: null, keep: 'never', accel: 'auto', backend: 'qemu' },
    totals: { runs: 3, passed: 1, failed: 1, error: 1, flaky: 0, interrupted: 0, 'timed-out': 0, skipped: 0 },
    runs: [a, b, c],
    testbed: true,
    interrupted: false,
  };
}

describe('results', () => {
  it('junit.xml is valid against the common JUnit schema', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-junit-'));
    const file = path.join(dir, 'junit.xml');
    await fs.writeFile(file, renderJunit(summary(), new Map([['q4[driver=bootc]', '$ sudo bootc switch img\n  ! error <x>\n']])));
    const xsd = path.join(repoRoot, 'test', 'fixtures', 'junit', 'jenkins-junit.xsd');
    const { stderr } = await promisify(execFile)('xmllint', ['--noout', '--schema', xsd, file]);
    expect(stderr).to.contain('validates');
    const xml = await fs.readFile(file, 'utf8');
    expect(xml).to.contain('<testsuite name="q4" tests="2" failures="1"');
    expect(xml).to.contain('<error message="step 6 (expect booted): booted.packages expected hello, was []\uFFFD" type="machine-died">');
    expect(xml).to.contain('&lt;x&gt;');
  });

  it('report.md answers per question with a findings matrix and labels testbed evidence', async () => {
    const model = buildReportModel(summary(), await loadQuestions(), () => []);
    const md = renderMarkdown(model);
    expect(md).to.contain(`**${TESTBED_LABEL}.**`);
    expect(md).to.contain('### Q4 transition');
    expect(md).to.match(/\| what was tried \| driver=rpm-ostree \| driver=bootc \|/);
    expect(md).to.match(/\| \*\*update-to-next-major\*\* — update via x \| \[✅ succeeded \(exit 0\)\]\(#f-q4--driver-rpm-ostree-update-to-next-major\) \| \[❌ refused \(exit 1\)\]\(#f-q4--driver-bootc-update-to-next-major\)<br>`error: <nope> & "quoted"` \|/);
    expect(md).to.contain('<a id="f-q4--driver-bootc-update-to-next-major"></a>');
    expect(md).to.contain('### Q1 mcd-subcommands');
    expect(md).to.contain('_No scenario in this run informs this question._');
    expect(md).to.contain('## Failures');
  });

  it('report.html is self-contained and escapes evidence', async () => {
    const html = renderHtml(buildReportModel(summary(), await loadQuestions(), () => []));
    expect(html).to.not.match(/<(link|script)\b|src="http/);
    expect(html).to.contain('error: &lt;nope&gt; &amp; &quot;quoted&quot;');
    expect(html).to.contain('class="testbed"');
  });

  it('the file reporters keep summary.json valid after every event; latest points at the run', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-results-'));
    const paths = resultsPaths(root, 'run-1');
    await fs.mkdir(paths.runDir, { recursive: true });
    const s = summary();
    const names = selectReporters([], { isTTY: false, json: false, env: {} });
    expect(names).to.deep.equal(['line', 'summary.json', 'junit', 'report.md', 'report.html']);
    const bus = new EventBus(createReporters(names.slice(1), { paths, questions: await loadQuestions(), write: () => undefined, env: {} }));
    const plan = { id: 'q4[driver=rpm-ostree]' } as RunPlan;
    // Every summary.json the reporter writes validates against the published format.
    const written = async () => {
      const value: unknown = JSON.parse(await fs.readFile(paths.summary, 'utf8'));
      expect(summaryProblems(value)).to.deep.equal([]);
      return value as RunSummary;
    };
    await bus.emit({ type: 'run:begin', runId: 'run-1', resultsDir: paths.runDir, plans: [], parallel: 1, accel: 'tcg', accelReason: 'x', header: header(s) });
    expect((await written()).runs).to.deep.equal([]);
    await bus.emit({ type: 'scenario:end', plan, result: s.runs[0]!, willRetry: false });
    const mid = await written();
    expect(mid.runs.map((r) => r.id)).to.deep.equal(['q4[driver=rpm-ostree]']);
    expect(mid.finishedAt).to.equal(null);
    await bus.emit({ type: 'run:end', summary: s });
    const done = await written();
    expect(done.totals.runs).to.equal(3);
    expect(await fs.readFile(paths.reportMd, 'utf8')).to.contain('bootpath report');
    expect(await fs.readFile(paths.junit, 'utf8')).to.contain('<testsuites');
    expect(bus.failures).to.deep.equal([]);
    const leftovers = (await fs.readdir(paths.runDir)).filter((n) => n.endsWith('.tmp'));
    expect(leftovers).to.deep.equal([]);
  });

  it('the published format rejects what a dashboard could not read, and checks steps.jsonl lines', () => {
    const s = summary();
    expect(summaryProblems(s)).to.deep.equal([]);
    const broken = { ...s, schemaVersion: 2, runs: [{ ...s.runs[0]!, verdict: 'sort of' }] };
    const problems = summaryProblems(broken);
    expect(problems.some((p) => p.startsWith('/schemaVersion'))).to.equal(true);
    expect(problems.some((p) => p.startsWith('/runs/0/verdict'))).to.equal(true);
    const step = { index: 0, label: 'reboot', kind: 'reboot', machine: 'default', status: 'passed', startedAt: '2026-11-26T10:00:00.000Z', durationMs: 3 };
    expect(stepLineProblems(step)).to.deep.equal([]);
    expect(stepLineProblems({ ...step, startedAt: 'yesterday' })[0]).to.match(/^\/startedAt: /);
  });

  it('results written afterwards (merge) read the timelines from state-<n>.json and validate', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-results-'));
    const paths = resultsPaths(root, 'merged');
    const s = summary();
    const folder = path.join(paths.runDir, s.runs[1]!.dir);
    await fs.mkdir(folder, { recursive: true });
    const state = hostStateFrom({ rpmOstree: fixture('state', 'rpm-ostree-layered-booted.json'), bootc: null });
    await fs.writeFile(path.join(folder, 'state-0.json'), JSON.stringify({ index: 0, machine: 'default', reason: 'first boot', boot: 1, state }));
    await fs.writeFile(path.join(folder, 'state-1.json'), '{"index": 1, "cut sh');
    const written = await writeResultFiles(paths, s, await loadQuestions(), await statesFromFiles(paths.runDir, s));
    expect(written.map((f) => path.basename(f))).to.deep.equal(['summary.json', 'junit.xml', 'report.md', 'report.html']);
    expect(summaryProblems(JSON.parse(await fs.readFile(paths.summary, 'utf8')))).to.deep.equal([]);
    const md = await fs.readFile(paths.reportMd, 'utf8');
    expect(md).to.match(/\| 1 \| first boot \| [^|]*\+[a-z]/);
  });

  it('a failing reporter never stops the others or the run, and is named in the failures', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-results-'));
    const paths = resultsPaths(root, 'run-2');
    await fs.mkdir(paths.runDir, { recursive: true });
    // A real failure: report.md's path is a directory, so its atomic rename fails.
    await fs.mkdir(paths.reportMd);
    const s = summary();
    let seen = 0;
    const counter: Reporter = { name: 'counter', onEvent: () => void seen++ };
    const files = createReporters(['report.md', 'summary.json', 'report.html'], { paths, questions: await loadQuestions(), write: () => undefined, env: {} });
    const bus = new EventBus([...files, counter]);
    await bus.emit({ type: 'run:begin', runId: 'run-2', resultsDir: paths.runDir, plans: [], parallel: 1, accel: 'tcg', accelReason: 'x', header: header(s) });
    await bus.emit({ type: 'run:end', summary: s });
    expect(seen).to.equal(2);
    expect(JSON.parse(await fs.readFile(paths.summary, 'utf8')).totals.runs).to.equal(3);
    expect(await fs.readFile(paths.reportHtml, 'utf8')).to.contain('<h1>bootpath report');
    expect(bus.failures.map((f) => [f.reporter, f.event])).to.deep.equal([['report.md', 'run:end']]);
    expect(describeReporterFailures(bus.failures)[0]).to.match(/^reporter 'report\.md' failed on run:end: /);
  });

  it('--reporter takes a comma list from the table; outputs named replace the defaults', () => {
    expect(parseCli(['smoke', '--reporter', 'quiet,junit']).reporters).to.deep.equal(['quiet', 'junit']);
    expect(selectReporters(['quiet', 'junit'], { isTTY: true, json: false, env: {} })).to.deep.equal(['quiet', 'junit']);
    expect(selectReporters(['line'], { isTTY: true, json: false, env: { GITHUB_STEP_SUMMARY: '/x' } })).to.deep.equal(['line', 'summary.json', 'junit', 'report.md', 'report.html', 'github']);
    expect(selectReporters([], { isTTY: true, json: false, env: {} })[0]).to.equal('tty');
    expect(selectReporters([], { isTTY: true, json: true, env: {} })[0]).to.equal('line');
    expect(() => parseCli(['smoke', '--reporter', 'line,junt'])).to.throw("invalid --reporter 'junt' (did you mean 'junit'?)");
    expect(() => selectReporters(['tty', 'line'], { isTTY: true, json: false, env: {} })).to.throw('choose one of: tty, line, quiet');
    expect(() => selectReporters(['github'], { isTTY: true, json: false, env: {} })).to.throw('--reporter github cannot run');
    expect(Object.keys(REPORTERS)).to.deep.equal([...REPORTER_NAMES]);
  });

  it('both renderers render the same model: disagreements, answers in words, steps and timelines from state events', async () => {
    const s = summary();
    const b = s.runs[1]!;
    b.findings[0]!.after = { bootId: 'b', booted: null, staged: null, rollback: null, kargs: [], osVersion: null, systemState: null, disagreements: ['booted image: bootc says x, rpm-ostree says y'] };
    b.steps = [{ index: 0, label: 'bootc switch img', kind: 'bootc', machine: 'default', status: 'failed', startedAt: s.startedAt, durationMs: 1500, message: 'refused\nmore' }];
    s.runs[0]!.findings.push(finding('kargs-kept', s.runs[0]!.id, true, 'held'));
    s.runs[0]!.findings[1]!.kind = 'expectation';
    const log = new RunLog();
    const first = hostStateFrom({ rpmOstree: fixture('state', 'rpm-ostree-clean-container.json'), bootc: null, kargs: ['rw', 'quiet'] });
    const layered = hostStateFrom({ rpmOstree: fixture('state', 'rpm-ostree-layered-booted.json'), bootc: null });
    expect(log.add({ type: 'run:begin', runId: 'r1', resultsDir: '/x', plans: [], parallel: 1, accel: 'tcg', accelReason: 'x', header: header(s) })).to.equal(true);
    const planB = { id: b.id } as RunPlan;
    // Attempt 2's states are another run's: only the attempt the result reports is shown.
    for (const [attempt, index, state, reason] of [[1, 0, first, 'first boot'], [1, 1, first, 'again'], [1, 2, layered, 'after reboot'], [2, 0, layered, 'other attempt']] as const) {
      expect(log.add({ type: 'state', plan: planB, attempt, snapshot: { index, machine: 'default', reason, boot: index === 2 ? 2 : 1, state } })).to.equal(false);
    }
    const model = buildReportModel(s, await loadQuestions(), log.statesOf);
    const rows = model.questions.find((q) => q.id === 'Q4')!.scenarios[0]!.rows;
    expect(rows[0]!.answer).to.equal('succeeded in 1 of 2 cells (driver=rpm-ostree), was refused in 1 (driver=bootc)');
    expect(rows[1]!.answer).to.equal('held in 1 of 2 cells (driver=rpm-ostree), not reached in 1 (driver=bootc)');
    const md = renderMarkdown(model);
    const html = renderHtml(model);
    for (const text of [md, html]) {
      expect(text).to.contain('bootc vs rpm-ostree: booted image: bootc says x, rpm-ostree says y');
      expect(text).to.contain('succeeded in 1 of 2 cells (driver=rpm-ostree), was refused in 1 (driver=bootc)');
      expect(text).to.contain('bootc switch img');
    }
    expect(html).to.contain('<td class="none">not run</td>');
    expect(md).to.match(/\| \*\*kargs-kept\*\* — update via x \| \[✅ held\]\([^)]+\) \| _not run_ \|/);
    expect(md).to.match(/\| 1 \| bootc switch img<br>refused \| default \| ❌ failed \| 1\.5 ?s \|/);
    // The HTML's picture of the run: one bar per step, linked to its row; failures red.
    expect(html).to.contain('<a class="bar bad" style="flex-grow:1.000" href="#s-q4--driver-bootc-1"');
    expect(html).to.contain('<tr id="s-q4--driver-bootc-1" class="bad">');
    expect(html).to.contain(`<a href="${b.dir}/commands.log">commands.log</a>`);
    const timeline = model.details.find((d) => d.runId === b.id)!.timeline;
    expect(timeline.map((r) => r.step)).to.deep.equal(['first boot', 'after reboot']);
    expect(timeline[0]!.kargs).to.equal('quiet');
  });
});

function header(s: RunSummary) {
  return { schemaVersion: s.schemaVersion, runId: s.runId, startedAt: s.startedAt, host: s.host, options: s.options };
}
