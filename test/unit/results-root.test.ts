import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostNotCapableError, InputError } from '../../core/errors.js';
import { repoRoot } from '../../core/paths.js';
import { parseCli } from '../../harness/cli/args.js';
import { interruptHandler } from '../../harness/cli/interrupt.js';
import { checkFreeSpace, prepareResultsRoot, resultsRootProblem } from '../../harness/results/layout.js';

/** --results values that would write where nobody asked, and results paths the host cannot hold. */
describe('results root', () => {
  let dir: string;
  beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-root-'))));
  afterEach(async () => fs.rm(dir, { recursive: true, force: true }));

  const hostError = async (root: string): Promise<string> => {
    const started = Date.now();
    const err = await prepareResultsRoot(root).then(
      () => expect.fail(`${root} was accepted`),
      (e: unknown) => e,
    );
    expect(Date.now() - started, 'no spinning').to.be.below(2000);
    expect(err).to.be.instanceOf(HostNotCapableError);
    return (err as Error).message;
  };

  it('refuses empty, root and root-level values as usage errors', () => {
    for (const bad of ['', '  ', '/', '/tmp', '/home', '//', '/tmp/..', 'a\nb']) {
      expect(resultsRootProblem(bad), JSON.stringify(bad)).to.be.a('string');
      expect(() => parseCli(['smoke', '--results', bad]), JSON.stringify(bad)).to.throw(InputError, /invalid --results/);
    }
    expect(resultsRootProblem('')).to.equal('an empty value; name a directory, e.g. --results results');
    expect(resultsRootProblem('/')).to.match(/^\/ is the filesystem root; results need a directory of their own, e.g. \/.+\/bootpath-results$/);
    for (const good of ['results', '/tmp/r', './out/results']) expect(resultsRootProblem(good), good).to.equal(null);
  });

  it('--work-dir: the same refusals in its own words; a good value reaches the options', () => {
    for (const bad of ['', '/', '/tmp']) expect(() => parseCli(['smoke', '--work-dir', bad]), JSON.stringify(bad)).to.throw(InputError, /invalid --work-dir/);
    expect(() => parseCli(['smoke', '--work-dir', ''])).to.throw(InputError, /an empty value; name a directory, e\.g\. --work-dir work/);
    expect(() => parseCli(['smoke', '--work-dir', '/'])).to.throw(InputError, /machine disks need a directory of their own, e\.g\. \/.+\/bootpath-work/);
    expect(parseCli(['smoke', '--work-dir', '/var/tmp/bp']).workDir).to.equal('/var/tmp/bp');
    expect(parseCli(['smoke']).workDir).to.equal(null);
  });

  it('creates missing levels one at a time and leaves nothing but them', async () => {
    const root = path.join(dir, 'a', 'b', 'results');
    await prepareResultsRoot(root);
    expect((await fs.stat(root)).isDirectory()).to.equal(true);
    expect(await fs.readdir(root)).to.deep.equal([]);
    await prepareResultsRoot(root); // idempotent
  });

  it('names the path when it cannot be a results directory', async () => {
    const file = path.join(dir, 'file');
    await fs.writeFile(file, 'x');
    expect(await hostError(file)).to.equal(`cannot use the results directory ${file}: ${file} is not a directory`);
    expect(await hostError(path.join(file, 'x', 'y'))).to.equal(`cannot use the results directory ${file}/x/y: ${file} is not a directory`);
    expect(await hostError('/proc/x')).to.equal('cannot use the results directory /proc/x: cannot create /proc/x (ENOENT)');
    expect(existsSync('/proc/x')).to.equal(false);
  });

  it('refuses a directory it cannot write to', async () => {
    // sysfs directories are read-only even for root; a 0555 directory is for everyone else.
    expect(await hostError('/sys/kernel')).to.match(/^cannot use the results directory \/sys\/kernel: it is not writable \((EPERM|EACCES|EROFS)\)$/);
    if (process.getuid?.() !== 0) {
      const ro = path.join(dir, 'ro');
      await fs.mkdir(ro, { mode: 0o555 });
      expect(await hostError(ro)).to.match(/it is not writable \(EACCES\)$/);
    }
  });

  it('refuses a results filesystem without room for the runs in flight', async () => {
    await checkFreeSpace(dir, 1);
    const { bavail, bsize } = await fs.statfs(dir);
    const err = await checkFreeSpace(dir, (bavail + 1) * bsize + 1024 ** 3).then(
      () => expect.fail('accepted'),
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(HostNotCapableError);
    expect((err as Error).message).to.match(new RegExp(`^only [\\d.]+ GiB free on the filesystem of the results directory ${dir}; the runs that may be in flight at once need at least [\\d.]+ GiB`));
  });

  it('the CLI (a real process) exits 3 naming the path for --results /proc/x, before anything boots', async () => {
    const r = await promisify(execFile)(process.execPath, [path.join(repoRoot, 'bin', 'bootpath.js'), 'smoke', '--results', '/proc/x'], { timeout: 60_000 }).then(
      () => expect.fail('the run started'),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stderr).to.equal('host not capable: cannot use the results directory /proc/x: cannot create /proc/x (ENOENT)\n  remedy: choose a writable directory with --results DIR\n');
  });
});

describe('Ctrl-C during a run', () => {
  it('the first signal aborts, and ends the process after the grace period even if the run hangs', async () => {
    const exits: number[] = [];
    const aborts: string[] = [];
    let notice = '';
    const onSignal = interruptHandler({ abort: (r) => aborts.push(r.message), notify: (t) => (notice += t), exit: (c) => exits.push(c), graceMs: 100 });
    onSignal('SIGINT');
    expect(aborts).to.deep.equal(['interrupted by SIGINT']);
    expect(notice).to.contain('SIGINT: stopping');
    expect(exits).to.deep.equal([]);
    await new Promise((r) => setTimeout(r, 250));
    expect(exits).to.deep.equal([130]);
  });

  it('a second signal exits at once', () => {
    const exits: number[] = [];
    const onSignal = interruptHandler({ abort: () => undefined, notify: () => undefined, exit: (c) => exits.push(c), graceMs: 60_000 });
    onSignal('SIGINT');
    onSignal('SIGINT');
    expect(exits).to.deep.equal([130]);
  });
});
