/**
 * The GitHub workflows, checked the way GitHub would: every file passes action-validator (the
 * workflow JSON schema, offline), every tag a workflow runs selects at least one scenario, and the
 * nightly's plan step turns the real plan into a shard matrix.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { parse } from 'yaml';
import { repoRoot } from '../../core/paths.js';
import { parsePlan, shardMatrix } from '../../harness/ci/shard-matrix.js';
import { listScenarioFiles, loadScenarioFiles } from '../../harness/scenario/load.js';
import { loadContext } from '../../harness/scenario/questions.js';

const execFileP = promisify(execFile);
const validator = path.join(repoRoot, 'node_modules', '.bin', 'action-validator');
const workflowsDir = path.join(repoRoot, '.github', 'workflows');

async function workflowFiles(): Promise<string[]> {
  return (await fs.readdir(workflowsDir)).filter((n) => /\.ya?ml$/.test(n)).map((n) => path.join(workflowsDir, n));
}

async function validate(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileP(validator, [file]);
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/**
 * Tags a workflow runs: literal `--tag X` arguments, the fallback of every `TAGS` env expression
 * (`inputs.tags || 'real testbed'`) and the dispatch input's default.
 */
function workflowTags(doc: unknown): string[] {
  const tags = new Set<string>();
  const visit = (node: unknown, key: string | null): void => {
    if (typeof node === 'string') {
      for (const m of node.matchAll(/--tag[= ]+["']?([A-Za-z0-9_-]+)/g)) tags.add(m[1]!);
      if (key === 'TAGS') for (const m of node.matchAll(/\|\|\s*'([^']*)'/g)) m[1]!.split(/\s+/).filter(Boolean).forEach((t) => tags.add(t));
      return;
    }
    if (Array.isArray(node)) return node.forEach((n) => visit(n, null));
    if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) visit(v, k);
  };
  visit(doc, null);
  const on = (doc as { on?: { workflow_dispatch?: { inputs?: Record<string, { default?: string }> } } }).on;
  const dispatchTags = on?.workflow_dispatch?.inputs?.tags?.default;
  if (dispatchTags) dispatchTags.split(/\s+/).filter(Boolean).forEach((t) => tags.add(t));
  return [...tags].sort();
}

describe('GitHub workflows', function () {
  this.timeout(60_000);

  it('every workflow passes action-validator', async () => {
    const files = await workflowFiles();
    expect(files.length).to.be.greaterThan(0);
    for (const file of files) {
      const r = await validate(file);
      expect(r.code, `${path.relative(repoRoot, file)}:\n${r.output}`).to.equal(0);
    }
  });

  it('action-validator rejects a workflow GitHub would reject (the check can fail)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-workflow-'));
    const file = path.join(dir, 'broken.yml');
    const nightly = await fs.readFile(path.join(workflowsDir, 'nightly.yml'), 'utf8');
    await fs.writeFile(file, nightly.replace('runs-on: ubuntu-24.04', 'runs_on: ubuntu-24.04'));
    const r = await validate(file);
    expect(r.code).to.not.equal(0);
    expect(r.output).to.contain("Additional property 'runs_on' is not allowed");
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('every tag a workflow runs selects at least one scenario, and entitled scenarios carry only that tag', async () => {
    const scenarios = await loadScenarioFiles(await listScenarioFiles(), await loadContext());
    const byTag = (t: string) => scenarios.filter((s) => (s.scenario.tags ?? []).includes(t)).map((s) => s.scenario.name);
    for (const file of await workflowFiles()) {
      const tags = workflowTags(parse(await fs.readFile(file, 'utf8')));
      expect(tags, path.basename(file)).to.have.length.greaterThan(0);
      for (const t of tags) expect(byTag(t), `${path.basename(file)} runs --tag ${t}`).to.have.length.greaterThan(0);
    }
    for (const s of scenarios.filter((x) => (x.scenario.tags ?? []).includes('entitled'))) expect(s.scenario.tags, s.scenario.name).to.deep.equal(['entitled']);
  });

  it('finds the tags in --tag arguments, TAGS fallbacks and the dispatch default', () => {
    const doc = parse(`on:\n  workflow_dispatch:\n    inputs:\n      tags: { default: 'a b' }\njobs:\n  j:\n    steps:\n      - env: { TAGS: "\${{ inputs.tags || 'c d' }}" }\n        run: npm run scenario -- --tag e --tag="f"\n`);
    expect(workflowTags(doc)).to.deep.equal(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it("the nightly's plan step: the real plan becomes a balanced shard matrix", async () => {
    const { stdout } = await execFileP(process.execPath, ['bin/bootpath.js', '--tag', 'real', '--tag', 'testbed', '--dry-run', '--json'], { cwd: repoRoot, maxBuffer: 64 << 20 });
    const runs = parsePlan(stdout, 'dry-run');
    expect(runs.length).to.be.greaterThan(10);
    const m = shardMatrix(runs, 1200, 8);
    const total = runs.reduce((s, r) => s + r.estimatedCost, 0);
    expect(m.count).to.equal(Math.min(8, Math.ceil(total / 1200)));
    expect(m.shards).to.deep.equal(Array.from({ length: m.count }, (_, i) => i + 1));
    expect(m.loads.reduce((a, b) => a + b, 0)).to.equal(total);
    expect(Math.max(...m.loads) - Math.min(...m.loads)).to.be.at.most(Math.max(...runs.map((r) => r.estimatedCost)));
    expect(shardMatrix(runs, 1e9, 8).count).to.equal(1);
    expect(() => parsePlan('{"runs": []}', 'plan.json')).to.throw('plan.json: expected an array of runs');
    expect(() => parsePlan('[{"id": "x"}]', 'plan.json')).to.throw('plan.json: run 0 has no string id and numeric estimatedCost');
  });
});
