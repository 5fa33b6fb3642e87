/**
 * Where things go inside results/<run-id>/ (README "Results layout").
 *
 *   summary.json        the whole run (rewritten atomically after every scenario run)
 *   junit.xml           one testsuite per scenario, one testcase per matrix run
 *   report.md/.html     the answers, per question
 *   runs/<run-slug>/    plan.json, steps.jsonl, state-<n>.json, commands.log,
 *                       machine-<name>/console-<n>.log
 */
import { promises as fs, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorMessage, HostNotCapableError } from '../../core/errors.js';

export function runSlug(planId: string, attempt = 1): string {
  const slug = planId
    .replace(/\[/g, '--')
    .replace(/\]/g, '')
    .replace(/[=,]/g, '-')
    .replace(/[^A-Za-z0-9._-]+/g, '_');
  return attempt > 1 ? `${slug}.retry-${attempt - 1}` : slug;
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

export interface ResultsPaths {
  root: string;
  runDir: string;
  summary: string;
  junit: string;
  reportMd: string;
  reportHtml: string;
  latest: string;
  runFolder(planId: string, attempt: number): string;
}

export function resultsPaths(root: string, runId: string): ResultsPaths {
  const runDir = path.join(root, runId);
  return {
    root,
    runDir,
    summary: path.join(runDir, 'summary.json'),
    junit: path.join(runDir, 'junit.xml'),
    reportMd: path.join(runDir, 'report.md'),
    reportHtml: path.join(runDir, 'report.html'),
    latest: path.join(root, 'latest'),
    runFolder: (planId, attempt) => path.join(runDir, 'runs', runSlug(planId, attempt)),
  };
}

/** The option a directory came from: it names the directory in messages and in the fix. */
export type DirOption = '--results' | '--work-dir' | 'state dir';

/**
 * Why `raw` (the --results value) cannot be a results root, or null. An empty value would resolve to
 * the working directory (the repository), and `/` or a root-level directory would fill the top of
 * the filesystem with run folders and a `latest` link.
 */
export function resultsRootProblem(raw: string, option: DirOption = '--results'): string | null {
  const what = option === '--results' ? 'results need' : 'machine disks need';
  const example = option === '--results' ? 'results' : 'work';
  if (raw.trim().length === 0) return `an empty value; name a directory, e.g. ${option} ${example}`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(raw)) return 'the path contains control characters';
  const resolved = path.resolve(raw);
  if (resolved.split(path.sep).filter(Boolean).length < 2) {
    const leaf = `bootpath-${example}`;
    const suggestion = resolved === path.sep ? path.join(os.homedir(), leaf) : path.join(resolved, leaf);
    return `${resolved} is ${resolved === path.sep ? 'the filesystem root' : 'a root-level directory'}; ${what} a directory of their own, e.g. ${suggestion}`;
  }
  return null;
}

/** More missing levels than this is not a results path anyone meant. */
const MAX_NEW_LEVELS = 32;

const DIR_NOUN: Record<DirOption, string> = { '--results': 'the results directory', '--work-dir': 'the work directory', 'state dir': 'the state directory (machine disks go there without --work-dir)' };

function hostErrorFor(root: string, why: string, option: DirOption = '--results'): HostNotCapableError {
  const fix = option === 'state dir' ? 'make it writable, set BOOTPATH_STATE_DIR, or put machine disks elsewhere with --work-dir DIR' : `choose a writable directory with ${option} DIR`;
  return new HostNotCapableError(`cannot use ${DIR_NOUN[option]} ${root}: ${why}`, fix);
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? errorMessage(err);
}

/**
 * Make sure `root` is a directory bootpath can write, before anything boots. Missing levels are
 * created one at a time (a recursive mkdir spins forever under /proc), and a throw-away directory
 * is created and removed to prove writes work (read-only mounts, permissions). Every failure is a
 * host error that names the path.
 */
export async function prepareResultsRoot(root: string, option: DirOption = '--results'): Promise<void> {
  const hostError = (r: string, why: string) => hostErrorFor(r, why, option);
  const missing: string[] = [];
  let p = root;
  for (;;) {
    let st: Stats | null;
    try {
      st = await fs.stat(p);
    } catch (err) {
      const code = codeOf(err);
      // ENOTDIR: some ancestor is a file; walking up finds it and says which.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw hostError(root, `${p}: ${code}`);
      st = null;
    }
    if (st === null) {
      missing.unshift(p);
      if (missing.length > MAX_NEW_LEVELS) throw hostError(root, `more than ${MAX_NEW_LEVELS} directory levels would have to be created`);
      const parent = path.dirname(p);
      if (parent === p) throw hostError(root, 'no existing parent directory');
      p = parent;
      continue;
    }
    if (!st.isDirectory()) throw hostError(root, `${p} is not a directory`);
    break;
  }
  for (const dir of missing) {
    try {
      await fs.mkdir(dir);
    } catch (err) {
      const code = codeOf(err);
      if (code === 'EEXIST' && (await fs.stat(dir).then((s) => s.isDirectory(), () => false))) continue;
      throw hostError(root, `cannot create ${dir} (${code})`);
    }
  }
  try {
    const probe = await fs.mkdtemp(path.join(root, '.bootpath-write-check-'));
    await fs.rmdir(probe);
  } catch (err) {
    throw hostError(root, `it is not writable (${codeOf(err)})`);
  }
}

/**
 * Space a run needs where its machine disks go (the state dir, or --work-dir), per machine that can
 * run at once: the qcow2 overlay grows with every deployment the guest writes. A filesystem that
 * fills up mid-run stops the guest (machine-disk-full), so too little space is refused up front.
 */
export const MIN_FREE_BYTES_PER_RUN = 1024 ** 3;

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/** Refuse (host error, exit 3) a results root whose filesystem has less than `needBytes` free. */
export async function checkFreeSpace(root: string, needBytes: number, option: DirOption = '--results'): Promise<void> {
  const hostError = (r: string, why: string) => hostErrorFor(r, why, option);
  let free: number;
  try {
    const st = await fs.statfs(root);
    free = st.bavail * st.bsize;
  } catch (err) {
    throw hostError(root, `cannot read its free space (${codeOf(err)})`);
  }
  if (free < needBytes) {
    throw new HostNotCapableError(
      `only ${gib(free)} free on the filesystem of ${DIR_NOUN[option]} ${root}; the runs that may be in flight at once need at least ${gib(needBytes)} (machine overlays live there)`,
      option === '--work-dir'
        ? 'free some space there, choose another directory with --work-dir DIR, or lower --parallel'
        : 'free some space there, put the machine disks on another filesystem with --work-dir DIR, or lower --parallel',
    );
  }
}
