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
import { buildReportModel, renderHtml, renderMarkdown, TESTBED_LABEL } from '../../harness/results/report.js';
import { ResultsWriter } from '../../harness/results/writer.js';
import { loadQuestions } from '../../harness/scenario/questions.js';
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
    const model = await buildReportModel(summary(), await loadQuestions(), '/nonexistent');
    const md = renderMarkdown(model);
    expect(md).to.contain(`**${TESTBED_LABEL}.**`);
    expect(md).to.contain('### Q4 transition');
    expect(md).to.match(/\| what was tried \| driver=rpm-ostree \| driver=bootc \|/);
    expect(md).to.match(/\| \*\*update-to-next-major\*\* — update via x \| \[✅ succeeded \(exit 0\)\]\(#f-q4--driver-rpm-ostree-update-to-next-major\) \| \[❌ refused \(exit 1\)\]\(#f-q4--driver-bootc-update-to-next-major\) \|/);
    expect(md).to.contain('<a id="f-q4--driver-bootc-update-to-next-major"></a>');
    expect(md).to.contain('### Q1 mcd-subcommands');
    expect(md).to.contain('_No scenario in this run informs this question._');
    expect(md).to.contain('## Failures');
  });

  it('report.html is self-contained and escapes evidence', async () => {
    const html = renderHtml(await buildReportModel(summary(), await loadQuestions(), '/nonexistent'));
    expect(html).to.not.match(/<(link|script)\b|src="http/);
    expect(html).to.contain('error: &lt;nope&gt; &amp; &quot;quoted&quot;');
    expect(html).to.contain('class="testbed"');
  });

  it('the writer keeps summary.json valid after every event and points latest at the run', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-results-'));
    const paths = resultsPaths(root, 'run-1');
    const s = summary();
    const writer = new ResultsWriter(paths, await loadQuestions(), () => ({ schemaVersion: 1, runId: 'run-1', startedAt: s.startedAt, host: s.host, options: s.options }));
    const plan = { id: 'q4[driver=rpm-ostree]' } as RunPlan;
    await writer.onEvent({ type: 'run:begin', runId: 'run-1', resultsDir: paths.runDir, plans: [], parallel: 1, accel: 'tcg', accelReason: 'x' });
    expect(JSON.parse(await fs.readFile(paths.summary, 'utf8')).runs).to.deep.equal([]);
    expect(await fs.readlink(paths.latest)).to.equal('run-1');
    await writer.onEvent({ type: 'scenario:end', plan, result: s.runs[0]!, willRetry: false });
    const mid = JSON.parse(await fs.readFile(paths.summary, 'utf8')) as RunSummary;
    expect(mid.runs.map((r) => r.id)).to.deep.equal(['q4[driver=rpm-ostree]']);
    expect(mid.finishedAt).to.equal(null);
    await writer.onEvent({ type: 'run:end', summary: s });
    const done = JSON.parse(await fs.readFile(paths.summary, 'utf8')) as RunSummary;
    expect(done.totals.runs).to.equal(3);
    expect(await fs.readFile(paths.reportMd, 'utf8')).to.contain('bootpath report');
    const leftovers = (await fs.readdir(paths.runDir)).filter((n) => n.endsWith('.tmp'));
    expect(leftovers).to.deep.equal([]);
  });
});
