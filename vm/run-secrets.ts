/**
 * A run's private material — the SSH client key, every machine's host key and the provisioning
 * files that carry it (Ignition config, credential files, seed ISO) — lives in one directory
 * under the state dir, `<stateDir>/runs/<runId>/` (0700), never under results. The run deletes
 * it when it ends; `bootpath gc` deletes what a crashed run left, recognised by an owner record
 * whose process is gone, so a live run's keys are never touched.
 */
import { promises as fs, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic.js';
import { errorMessage } from '../core/errors.js';
import { stateDir as defaultStateDir } from '../core/paths.js';
import { sanitizeName } from './names.js';
import { isSameProcessAlive, processStartTime } from './proc.js';

const OWNER_FILE = 'owner.json';
/** An owner record is a few dozen bytes; anything larger is not one of ours. */
const OWNER_MAX_BYTES = 4096;
/** A directory without an owner record younger than this may be a run that is just starting. */
const UNOWNED_GRACE_MS = 10 * 60_000;

interface OwnerRecord {
  pid: number;
  startTime: number;
  runId: string;
  createdAt: string;
  /** The run's disk directory under a --work-dir, removed with the secrets (also by gc). */
  disks?: string;
}

/** In a run's disk folder: its run id, so gc never removes a directory that only looks like one. */
const DISKS_MARKER = '.bootpath-run';

/** The name of a run's folder under a --work-dir: gc removes only a directory of exactly this name. */
export function disksFolderName(runId: string): string {
  return `bootpath-${runId}`;
}

export function runSecretsRoot(dir: string = defaultStateDir()): string {
  return path.join(dir, 'runs');
}

function checkRunId(runId: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(runId)) throw new Error(`run id ${JSON.stringify(runId)} is not a plain directory name`);
}

export class RunSecrets {
  private machines = 0;

  private constructor(
    readonly runId: string,
    readonly dir: string,
    /** `<work-dir>/bootpath-<runId>` when machine disks go to a --work-dir; null: in the run folders. */
    readonly disksDir: string | null,
    private readonly forgetExitHook: () => void,
  ) {}

  /**
   * Create `<stateDir>/runs/<runId>/` (0700) with its owner record (this process); with a work dir,
   * also the run's disk folder there, owned by the same record (removed with it, and by gc).
   */
  static async create(runId: string, stateDir: string = defaultStateDir(), opts: { workDir?: string | null } = {}): Promise<RunSecrets> {
    checkRunId(runId);
    const disks = opts.workDir ? path.join(path.resolve(opts.workDir), disksFolderName(runId)) : null;
    const root = runSecretsRoot(stateDir);
    await fs.mkdir(root, { recursive: true, mode: 0o700 });
    const dir = path.join(root, runId);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is masked by the umask and ignored for an existing directory: set it.
    await fs.chmod(dir, 0o700);
    const startTime = processStartTime(process.pid);
    if (startTime === null) throw new Error('cannot read this process start time from /proc');
    const owner: OwnerRecord = { pid: process.pid, startTime, runId, createdAt: new Date().toISOString(), ...(disks ? { disks } : {}) };
    await writeFileAtomic(path.join(dir, OWNER_FILE), JSON.stringify(owner) + '\n', 0o600);
    if (disks) {
      await fs.mkdir(disks, { recursive: true, mode: 0o700 });
      await writeFileAtomic(path.join(disks, DISKS_MARKER), `${runId}\n`, 0o600);
    }
    // However the process ends short of SIGKILL (a crash, Ctrl-C, the end after kept machines):
    // its machines die with it (vm/reaper.ts), so their keys go too. 'exit' handlers must be
    // synchronous. A SIGKILLed run is for `bootpath gc`.
    const onExit = (): void => {
      if (disks) rmSync(disks, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    };
    process.on('exit', onExit);
    return new RunSecrets(runId, dir, disks, () => process.off('exit', onExit));
  }

  /**
   * Where one machine of one run folder keeps its disks: under the work dir when there is one, else
   * in this private directory. Never in results: a guest's disk holds its own private host key (and
   * whatever else the scenario put there), and a crashed run cannot delete it — gc deletes this
   * directory, disks included.
   */
  async machineDisksDir(runFolder: string, machine: string): Promise<string> {
    const dir = path.join(this.disksDir ?? path.join(this.dir, 'disks'), path.basename(runFolder), `machine-${sanitizeName(machine)}`);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** A fresh 0700 directory for one machine's host key and provisioning files. */
  async machineDir(machine: string): Promise<string> {
    this.machines++;
    const dir = path.join(this.dir, `machine-${this.machines}-${sanitizeName(machine)}`);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  async remove(): Promise<void> {
    this.forgetExitHook();
    if (this.disksDir) await fs.rm(this.disksDir, { recursive: true, force: true });
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

export interface SecretsGcReport {
  removed: string[];
  skipped: { dir: string; reason: string }[];
}

/**
 * Remove the secrets of runs whose owner process is gone. Only plain directories directly under
 * `<stateDir>/runs/` are considered (a symlink is never followed); an unreadable or oversized owner
 * record leaves the directory alone unless it is older than the grace period.
 */
export async function removeOrphanedRunSecrets(opts: { stateDir?: string; now?: number } = {}): Promise<SecretsGcReport> {
  const root = runSecretsRoot(opts.stateDir ?? defaultStateDir());
  const now = opts.now ?? Date.now();
  const report: SecretsGcReport = { removed: [], skipped: [] };
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch {
    return report; // nothing there yet
  }
  for (const name of names) {
    const dir = path.join(root, name);
    const st = await fs.lstat(dir).catch(() => null);
    if (!st?.isDirectory()) continue;
    const owner = await readOwner(dir);
    if (owner.kind === 'owned' && isSameProcessAlive(owner.record.pid, owner.record.startTime)) {
      report.skipped.push({ dir, reason: `run ${owner.record.runId} is still running (pid ${owner.record.pid})` });
      continue;
    }
    if (owner.kind === 'unknown' && now - st.mtimeMs < UNOWNED_GRACE_MS) {
      report.skipped.push({ dir, reason: `no owner record (${owner.reason}) and younger than ${UNOWNED_GRACE_MS / 60_000} min` });
      continue;
    }
    try {
      const disks = owner.kind === 'owned' ? owner.record.disks : undefined;
      if (disks !== undefined && (await isRunDisksDir(disks, owner.kind === 'owned' ? owner.record.runId : ''))) {
        await fs.rm(disks, { recursive: true, force: true });
        report.removed.push(disks);
      }
      await fs.rm(dir, { recursive: true, force: true });
      report.removed.push(dir);
    } catch (err) {
      report.skipped.push({ dir, reason: `could not remove: ${errorMessage(err)}` });
    }
  }
  return report;
}

/**
 * Only a real directory (no symlink) named exactly as create() names it, holding create()'s marker
 * with the same run id, is a run's disk folder: a forged owner record cannot point gc elsewhere.
 */
async function isRunDisksDir(dir: string, runId: string): Promise<boolean> {
  if (!path.isAbsolute(dir) || path.normalize(dir) !== dir || path.basename(dir) !== disksFolderName(runId)) return false;
  const st = await fs.lstat(dir).catch(() => null);
  if (st?.isDirectory() !== true) return false;
  const marker = await fs.lstat(path.join(dir, DISKS_MARKER)).catch(() => null);
  if (!marker?.isFile() || marker.size > 256) return false;
  return (await fs.readFile(path.join(dir, DISKS_MARKER), 'utf8').catch(() => '')).trim() === runId;
}

async function readOwner(dir: string): Promise<{ kind: 'owned'; record: OwnerRecord } | { kind: 'unknown'; reason: string }> {
  const file = path.join(dir, OWNER_FILE);
  try {
    const st = await fs.lstat(file);
    if (!st.isFile()) return { kind: 'unknown', reason: `${OWNER_FILE} is not a regular file` };
    if (st.size > OWNER_MAX_BYTES) return { kind: 'unknown', reason: `${OWNER_FILE} is too large` };
    const v: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    if (!v || typeof v !== 'object') return { kind: 'unknown', reason: `${OWNER_FILE} is not an object` };
    const r = v as Record<string, unknown>;
    if (typeof r.pid !== 'number' || !Number.isInteger(r.pid) || r.pid <= 0 || typeof r.startTime !== 'number' || typeof r.runId !== 'string') {
      return { kind: 'unknown', reason: `${OWNER_FILE} lacks pid, startTime or runId` };
    }
    const record: OwnerRecord = { pid: r.pid, startTime: r.startTime, runId: r.runId, createdAt: String(r.createdAt ?? '') };
    if (typeof r.disks === 'string') record.disks = r.disks;
    return { kind: 'owned', record };
  } catch (err) {
    return { kind: 'unknown', reason: errorMessage(err) };
  }
}
