/**
 * The runner with real plans and real reporters, and no machine: every image fails to resolve,
 * so each run ends in an 'image' error. What is tested is the output side: a reporter that throws
 * on every event leaves the run and the other reporters alone, and is reported.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { InfraError } from '../../core/errors.js';
import { createReporters, selectReporters } from '../../harness/reporters/registry.js';
import type { RunSummary } from '../../harness/results/model.js';
import { summaryProblems } from '../../harness/results/validate.js';
import type { Reporter, RunnerEvent } from '../../harness/run/events.js';
import { hostRecord, runPlans } from '../../harness/run/runner.js';
import { loadScenarioFile, scenariosDir } from '../../harness/scenario/load.js';
import { loadContext, loadQuestions } from '../../harness/scenario/questions.js';

describe('runner and reporters', () => {
  let dir: string;
  const savedStateDir = process.env.BOOTPATH_STATE_DIR;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-runner-'));
    process.env.BOOTPATH_STATE_DIR = path.join(dir, 'state');
  });
  after(async () => {
    if (savedStateDir === undefined) delete process.env.BOOTPATH_STATE_DIR;
    else process.env.BOOTPATH_STATE_DIR = savedStateDir;
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('a reporter that throws on every event neither stops the run nor the file reporters, and is reported', async () => {
    const { plans } = await loadScenarioFile(path.join(scenariosDir, 'smoke.yaml'), await loadContext());
    const questions = await loadQuestions();
    const seen: RunnerEvent['type'][] = [];
    const broken: Reporter = {
      name: 'broken',
      onEvent: (e) => {
        seen.push(e.type);
        throw new Error('disk on fire');
      },
    };
    const names = selectReporters(['quiet'], { isTTY: false, json: false, env: {} });
    const outcome = await runPlans(
      plans,
      {
        resultsRoot: path.join(dir, 'results'),
        parallel: 1,
        retries: 1,
        failFast: false,
        keep: 'never',
        accel: 'tcg',
        accelReason: 'test',
        timeoutScale: 1,
        backend: 'qemu',
        shard: null,
        resolveImage: () => Promise.reject(new InfraError('no image in this test', 'image')),
        startGuest: () => Promise.reject(new Error('not reached: the image never resolves')),
        host: hostRecord('0.0.0', null),
        signal: new AbortController().signal,
      },
      (paths) => [broken, ...createReporters(names, { paths, questions, write: () => undefined, env: {} })],
    );
    expect(outcome.summary.runs.map((r) => [r.verdict, r.errorKind, r.attempts])).to.deep.equal(plans.map(() => ['error', 'image', 2]));
    expect(seen[0]).to.equal('run:begin');
    expect(seen.at(-1)).to.equal('run:end');
    expect(outcome.reporterFailures.length).to.equal(seen.length);
    expect(new Set(outcome.reporterFailures.map((f) => `${f.reporter}: ${f.message}`))).to.deep.equal(new Set(['broken: disk on fire']));
    const written = JSON.parse(await fs.readFile(outcome.paths.summary, 'utf8')) as RunSummary;
    expect(summaryProblems(written)).to.deep.equal([]);
    expect(written.totals.error).to.equal(plans.length);
    expect(await fs.readFile(outcome.paths.reportHtml, 'utf8')).to.contain('no image in this test');
    expect(await fs.readlink(path.join(dir, 'results', 'latest'))).to.equal(path.basename(outcome.paths.runDir));
  });
});
