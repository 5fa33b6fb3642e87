/**
 * `merge`: two results directories written by the real ResultsWriter (as two CI shards would write
 * them, no VMs) become one summary, JUnit file, report and step summary.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { runIdentity } from '../../harness/results/identity.js';
import { InputError } from '../../core/errors.js';
import { repoRoot } from '../../core/paths.js';
import { formatDuration } from '../../core/units.js';
import { resultsPaths, runSlug } from '../../harness/results/layout.js';
import { findResultDirs, mergeResults, type MergedSummary } from '../../harness/results/merge.js';
import type { HostRecord, RunResult, RunSummary } from '../../harness/results/model.js';
import { pointLatest } from '../../harness/results/latest.js';
import { summaryProblems } from '../../harness/results/validate.js';
import { createReporters } from '../../harness/reporters/registry.js';
import { EventBus } from '../../harness/run/events.js';
import { loadScenarioFiles } from '../../harness/scenario/load.js';
import { loadContext, loadQuestions } from '../../harness/scenario/questions.js';
import type { RunPlan } from '../../harness/scenario/plan.js';

const execFileP = promisify(execFile);

const host = (hostname: string, accel: string): HostRecord => ({ hostname, cpus: 4, memoryMiB: 16000, accel, accelReason: accel === 'kvm' ? 'KVM probe passed' : 'KVM probe failed', qemu: '/usr/bin/qemu-system-x86_64', bootpathVersion: '0.1.0' });

function result(plan: RunPlan, verdict: RunResult['verdict'], startedAt: string): RunResult {
  return {
    ...runIdentity(plan),
    verdict,
    message: verdict === 'passed' ? undefined : 'step 7 (expect os-release): VERSION_ID expected 10.0, was 9.6',
    attempts: 1,
    startedAt,
    durationMs: 90_000,
    guestTimeMs: 80_000,
    machines: [{ name: 'default', image: { image: 'testbed', source: 'testbed', cacheHit: true, verifiedAt: startedAt, testbed: true }, memoryMiB: 1024, cpus: 2, boots: 2 }],
    steps: [],
    findings: [
      {
        id: 'update-to-next-major',
        runId: plan.id,
        scenario: plan.scenario,
        cell: plan.cell,
        questions: plan.questions,
        step: 4,
        label: 'update',
        kind: 'action',
        outcome: verdict === 'passed' ? 'succeeded (exit 0)' : 'refused (exit 1)',
        ok: verdict === 'passed',
        command: 'bootc switch localhost/bootpath/testbed-next:10',
        exitCode: verdict === 'passed' ? 0 : 1,
        testbed: true,
      },
    ],
    dir: `runs/${runSlug(plan.id)}`,
    testbed: true,
  };
}

/** One shard's results/<run-id>/, written by the real writer from runner events. */
async function writeShard(root: string, runId: string, shard: string | null, h: HostRecord, runs: { plan: RunPlan; verdict: RunResult['verdict']; startedAt: string; revision?: string }[]): Promise<string> {
  const paths = resultsPaths(root, runId);
  const startedAt = runs[0]!.startedAt;
  const options = { parallel: 2, retries: 1, shard, keep: 'never', accel: 'auto', backend: 'qemu' };
  // As the runner does: the folder and results/latest first, then the file reporters from events.
  await fs.mkdir(paths.runDir, { recursive: true });
  await pointLatest(paths);
  const writer = new EventBus(createReporters(['summary.json', 'junit', 'report.md', 'report.html'], { paths, questions: await loadQuestions(), write: () => undefined, env: {} }));
  const header = { schemaVersion: 1 as const, runId, startedAt, host: h, options };
  await writer.emit({ type: 'run:begin', runId, resultsDir: paths.runDir, plans: runs.map((r) => r.plan), parallel: 2, accel: h.accel, accelReason: h.accelReason, header });
  const results: RunResult[] = [];
  for (const r of runs) {
    const res = result(r.plan, r.verdict, r.startedAt);
    const dir = path.join(paths.runDir, res.dir);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'plan.json'), JSON.stringify({ ...r.plan, revision: r.revision ?? r.plan.revision, machines: r.plan.machines.map((m) => ({ ...m, image: m.image.entry })) }));
    await fs.writeFile(path.join(dir, 'commands.log'), `2026-12-01T02:20:00Z $ sudo bootc switch localhost/bootpath/testbed-next:10 (${r.plan.id} on ${h.hostname})\n`);
    await writer.emit({ type: 'scenario:end', plan: r.plan, result: res, willRetry: false });
    results.push(res);
  }
  const totals = { runs: results.length, passed: 0, failed: 0, error: 0, flaky: 0, interrupted: 0, 'timed-out': 0, skipped: 0 };
  for (const r of results) totals[r.verdict]++;
  const summary: RunSummary = { schemaVersion: 1, runId, startedAt, finishedAt: new Date(Date.parse(startedAt) + 600_000).toISOString(), durationMs: 600_000, host: h, options, totals, runs: results, testbed: true, interrupted: false };
  await writer.emit({ type: 'run:end', summary });
  expect(writer.failures).to.deep.equal([]);
  return paths.runDir;
}

describe('merge (results directories into one)', function () {
  this.timeout(30_000);
  let tmp: string;
  let plans: RunPlan[];
  const [rpm, bootc] = [0, 1];

  before(async () => {
    const loaded = await loadScenarioFiles([path.join(repoRoot, 'scenarios', 'q4-transition-next-major.yaml')], await loadContext());
    plans = loaded[0]!.plans;
    expect(plans.map((p) => p.id)).to.deep.equal(['q4-transition-next-major[driver=rpm-ostree]', 'q4-transition-next-major[driver=bootc]']);
  });
  beforeEach(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-merge-'));
  });
  afterEach(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  /** Two shards as the nightly downloads them: shards/bootpath-shard-N/<run-id>/. */
  async function twoShards(secondVerdict: RunResult['verdict'] = 'failed') {
    const a = await writeShard(path.join(tmp, 'shards', 'bootpath-shard-1'), 'r-a', '1/2', host('runner-a', 'kvm'), [{ plan: plans[rpm]!, verdict: 'passed', startedAt: '2026-12-01T02:20:00.000Z' }]);
    const b = await writeShard(path.join(tmp, 'shards', 'bootpath-shard-2'), 'r-b', '2/2', host('runner-b', 'tcg'), [{ plan: plans[bootc]!, verdict: secondVerdict, startedAt: '2026-12-01T02:21:00.000Z' }]);
    return { a, b };
  }

  it('finds run folders in an artifact download, not through results/latest', async () => {
    const { a, b } = await twoShards();
    expect(await fs.readlink(path.join(tmp, 'shards', 'bootpath-shard-1', 'latest'))).to.equal('r-a');
    expect(await findResultDirs(path.join(tmp, 'shards'))).to.deep.equal([a, b]);
    expect(await findResultDirs(a)).to.deep.equal([a]);
  });

  it('follows a results/latest link it is given (but not the ones it finds below)', async () => {
    await twoShards();
    const { summary } = await mergeResults({ inputs: [path.join(tmp, 'shards', 'bootpath-shard-1', 'latest'), path.join(tmp, 'shards', 'bootpath-shard-2', 'latest')], root: path.join(tmp, 'results'), questions: await loadQuestions(), allowMixed: false });
    expect(summary.runs.map((r) => r.id)).to.deep.equal(['q4-transition-next-major[driver=rpm-ostree]', 'q4-transition-next-major[driver=bootc]']);
    expect(summary.merged.shards).to.have.length(2);
  });

  it('combines summary.json, junit.xml, report.md/.html and the step summary; every run says its shard, every shard its host and wall time', async () => {
    await twoShards();
    const stepSummary = path.join(tmp, 'step-summary.md');
    const out = path.join(tmp, 'results');
    const { summary, paths } = await mergeResults({ inputs: [path.join(tmp, 'shards')], root: out, questions: await loadQuestions(), allowMixed: false, stepSummary, now: new Date('2026-12-01T03:00:00Z') });

    const written = JSON.parse(await fs.readFile(paths.summary, 'utf8')) as MergedSummary;
    expect(written).to.deep.equal(JSON.parse(JSON.stringify(summary)));
    // The merged summary is still a summary.json dashboards can read (its extra fields are additions).
    expect(summaryProblems(written)).to.deep.equal([]);
    expect(written.runs.map((r) => [r.id, r.shard, r.verdict])).to.deep.equal([
      ['q4-transition-next-major[driver=rpm-ostree]', 'shard 1/2', 'passed'],
      ['q4-transition-next-major[driver=bootc]', 'shard 2/2', 'failed'],
    ]);
    expect(written.totals).to.include({ runs: 2, passed: 1, failed: 1 });
    expect(written.merged.shards.map((s) => [s.label, s.host.hostname, s.host.accel, s.durationMs, s.runs.length])).to.deep.equal([
      ['shard 1/2', 'runner-a', 'kvm', 600_000, 1],
      ['shard 2/2', 'runner-b', 'tcg', 600_000, 1],
    ]);
    expect(written.host.hostname).to.equal('2 hosts (runner-a, runner-b)');
    expect(written.host.accel).to.equal('kvm/tcg');
    expect(written.durationMs, 'wall time of the whole fan-out').to.equal(660_000);
    expect(written.options.shard).to.equal(null);

    // the evidence travelled with the runs
    expect(await fs.readFile(path.join(paths.runDir, written.runs[1]!.dir, 'commands.log'), 'utf8')).to.contain('on runner-b');
    expect(await fs.readlink(path.join(out, 'latest'))).to.equal(path.basename(paths.runDir));

    const xsd = path.join(repoRoot, 'test', 'fixtures', 'junit', 'jenkins-junit.xsd');
    const { stderr } = await execFileP('xmllint', ['--noout', '--schema', xsd, paths.junit]);
    expect(stderr).to.contain('validates');
    const junit = await fs.readFile(paths.junit, 'utf8');
    expect(junit).to.contain('<testsuite name="q4-transition-next-major" tests="2" failures="1"');
    expect(junit).to.contain('on runner-b');

    const md = await fs.readFile(paths.reportMd, 'utf8');
    expect(md.split('\n')[0]).to.equal(`# bootpath report — ${summary.runId}`);
    expect(md).to.contain('## Shards');
    expect(md).to.contain(`| shard 1/2 | runner-a (4 CPUs) | kvm | ${formatDuration(600_000)} | 1: q4-transition-next-major[driver=rpm-ostree] |`);
    expect(md).to.contain(`| shard 2/2 | runner-b (4 CPUs) | tcg | ${formatDuration(600_000)} | 1: q4-transition-next-major[driver=bootc] |`);
    expect(md).to.contain('| what was tried | driver=rpm-ostree | driver=bootc |');
    const html = await fs.readFile(paths.reportHtml, 'utf8');
    expect(html).to.contain('<h2>Shards</h2>');
    expect(html).to.contain('<td>shard 2/2</td><td>runner-b (4 CPUs)</td><td>tcg</td>');
    expect(await fs.readFile(stepSummary, 'utf8')).to.equal(`${md}\n`);
  });

  it('refuses to mix scenario-file revisions unless told, and then records them', async () => {
    await writeShard(path.join(tmp, 'a'), 'r-a', '1/2', host('runner-a', 'kvm'), [{ plan: plans[rpm]!, verdict: 'passed', startedAt: '2026-12-01T02:20:00.000Z' }]);
    await writeShard(path.join(tmp, 'b'), 'r-b', '2/2', host('runner-b', 'kvm'), [{ plan: plans[bootc]!, verdict: 'passed', startedAt: '2026-12-01T02:21:00.000Z', revision: 'ffffffffffffffff' }]);
    const opts = { inputs: [path.join(tmp, 'a'), path.join(tmp, 'b')], root: path.join(tmp, 'results'), questions: await loadQuestions(), allowMixed: false };
    const err = await mergeResults(opts).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(InputError);
    expect((err as Error).message).to.contain('--allow-mixed');
    expect((err as Error).message).to.contain(`q4-transition-next-major: ${plans[rpm]!.revision} in shard 1/2; ffffffffffffffff in shard 2/2`);
    const { summary } = await mergeResults({ ...opts, allowMixed: true });
    expect(summary.merged.mixedRevisions).to.deep.equal({ 'q4-transition-next-major': [plans[rpm]!.revision, 'ffffffffffffffff'] });
    expect(await fs.readFile(path.join(tmp, 'results', summary.runId, 'report.md'), 'utf8')).to.contain('**Mixed scenario revisions** (merged with --allow-mixed)');
  });

  it('a rerun of a failed run supersedes it: the later pass is reported flaky, the earlier attempt listed', async () => {
    await writeShard(path.join(tmp, 'night'), 'r-1', '1/1', host('runner-a', 'kvm'), [
      { plan: plans[rpm]!, verdict: 'passed', startedAt: '2026-12-01T02:20:00.000Z' },
      { plan: plans[bootc]!, verdict: 'failed', startedAt: '2026-12-01T02:22:00.000Z' },
    ]);
    await writeShard(path.join(tmp, 'rerun'), 'r-2', '1/1', host('runner-c', 'kvm'), [{ plan: plans[bootc]!, verdict: 'passed', startedAt: '2026-12-01T05:00:00.000Z' }]);
    const { summary } = await mergeResults({ inputs: [path.join(tmp, 'night'), path.join(tmp, 'rerun')], root: path.join(tmp, 'results'), questions: await loadQuestions(), allowMixed: false });
    expect(summary.runs.map((r) => [r.id, r.verdict, r.shard])).to.deep.equal([
      ['q4-transition-next-major[driver=rpm-ostree]', 'passed', 'shard 1/1 (r-1)'],
      ['q4-transition-next-major[driver=bootc]', 'flaky', 'shard 1/1 (r-2)'],
    ]);
    expect(summary.runs[1]!.attempts).to.equal(2);
    expect(summary.merged.superseded).to.deep.equal([{ id: 'q4-transition-next-major[driver=bootc]', shard: 'shard 1/1 (r-1)', verdict: 'failed', startedAt: '2026-12-01T02:22:00.000Z' }]);
    expect(summary.totals).to.include({ runs: 2, passed: 1, flaky: 1, failed: 0 });
  });

  it('the merge command exits like a run would (1 with a failure, 0 when all passed) and 2 on a folder without results', async () => {
    // Through the real entry point, as the nightly's merge job calls it.
    const cli = async (argv: string[]) => {
      try {
        const { stdout, stderr } = await execFileP(process.execPath, ['bin/bootpath.js', ...argv], { cwd: repoRoot, env: { ...process.env, GITHUB_STEP_SUMMARY: '' } });
        return { code: 0, stdout, stderr };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };
    await twoShards('failed');
    const failed = await cli(['merge', path.join(tmp, 'shards'), '--results', path.join(tmp, 'out')]);
    expect(failed.code).to.equal(1);
    expect(failed.stdout).to.contain('shard 2/2: 1 run(s) on runner-b (tcg)');
    expect(failed.stdout).to.match(/merged 2 runs from 2 result folder\(s\) into /);
    await fs.rm(path.join(tmp, 'shards'), { recursive: true });
    await twoShards('passed');
    expect((await cli(['merge', path.join(tmp, 'shards'), '--results', path.join(tmp, 'out2')])).code).to.equal(0);
    const empty = await cli(['merge', tmp + '/nothing-here']);
    expect(empty.code, empty.stderr).to.equal(2);
    expect(empty.stderr).to.contain('nothing-here: no summary.json in it or in the folders below it');
    expect(empty.stderr).to.not.match(/\n\s+at /);
  });
});
