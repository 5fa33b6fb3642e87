import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { main } from '../../harness/cli/main.js';
import { staleSchemas } from '../../harness/cli/commands/schema.js';
import { repoRoot } from '../../core/paths.js';

const run = async (argv: string[]) => {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), isTTY: false });
  return { code, stdout, stderr };
};

describe('CLI', () => {
  it('checked-in schemas are generated from the current definitions', async () => {
    expect(await staleSchemas(), "run 'npm run schema'").to.deep.equal([]);
  });

  it('every scenario and catalog file starts with the yaml-language-server schema comment', async () => {
    for (const dir of ['scenarios', 'images/catalog']) {
      for (const name of await fs.readdir(path.join(repoRoot, dir))) {
        if (!name.endsWith('.yaml') || name === 'questions.yaml') continue;
        const text = await fs.readFile(path.join(repoRoot, dir, name), 'utf8');
        expect(text.split('\n')[0], `${dir}/${name}`).to.equal('# yaml-language-server: $schema=./schema.json');
      }
    }
  });

  it('validate passes on the shipped files', async () => {
    const r = await run(['validate']);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^valid: \d+ scenarios \(\d+ runs\), \d+ images/);
  });

  it('validate of a broken file exits 2 with located problems and no stack trace', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-cli-'));
    const file = path.join(dir, 'broken.yaml');
    await fs.writeFile(file, 'name: broken\nsummary: s\nmachine: { image: testbed }\nsteps:\n  - rpm-ostree: instal\n');
    const r = await run(['validate', file]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(":5:17: unknown rpm-ostree operation 'instal' (did you mean 'install'?)");
    expect(r.stderr).to.not.match(/\n\s+at /);
  });

  it('--list shows names, runs, questions and tags', async () => {
    const r = await run(['--list']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^NAME\s+RUNS\s+QUESTIONS/);
    expect(r.stdout).to.match(/\nsmoke\s+1\s+Q2,Q3\s+\[smoke, testbed, ci\]/);
  });

  it('--dry-run prints the expanded plan with resolved images', async () => {
    const r = await run(['q4-transition-next-major', '--dry-run']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('dry run: 2 runs');
    expect(r.stdout).to.contain('q4-transition-next-major[driver=rpm-ostree]');
    expect(r.stdout).to.contain('update via bootc: bootc switch -- localhost/bootpath/testbed-next:10');
    expect(r.stdout).to.contain('testbed: emulated rpm-ostree/bootc');
  });

  it('--dry-run on a real image resolves it through the catalog and prints its provenance', async () => {
    const r = await run(['real-q2-fcos-switch-status', '--dry-run']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('image fcos-stable: coreos-stream https://builds.coreos.fedoraproject.org/streams/stable.json (qcow2.xz, x86_64); stream stable, sha256 from the stream metadata');
  });

  it('--dry-run --json is machine-readable', async () => {
    const r = await run(['smoke', '--dry-run', '--json']);
    const plans = JSON.parse(r.stdout) as { id: string; machines: { image: { name: string } }[] }[];
    expect(plans.map((p) => p.id)).to.deep.equal(['smoke']);
    expect(plans[0]!.machines[0]!.image.name).to.equal('testbed');
  });

  it('unknown scenario and unknown flags are usage errors (exit 2) with suggestions', async () => {
    const a = await run(['smok']);
    expect(a.code).to.equal(2);
    expect(a.stderr).to.contain("unknown scenario 'smok' (did you mean 'smoke'?)");
    const b = await run(['smoke', '--paralel', '2']);
    expect(b.code).to.equal(2);
    expect(b.stderr).to.contain('unknown option --paralel (did you mean --parallel?)');
    const c = await run(['smoke', '--accel', 'kvn']);
    expect(c.code).to.equal(2);
    expect(c.stderr).to.contain("invalid --accel 'kvn' (did you mean 'kvm'?)");
    const d = await run(['smoke', '--shard', '3/2']);
    expect(d.code).to.equal(2);
  });

  it('runs through the real entry point (npm run scenario)', async () => {
    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'scenario', '--', '--list'], { cwd: repoRoot });
    expect(stdout).to.contain('smoke');
  });
});
