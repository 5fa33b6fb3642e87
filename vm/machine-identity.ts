import { randomBytes } from 'node:crypto';
import path from 'node:path';

/**
 * What proves that a process is a bootpath machine of one particular run, so that `gc` can kill it.
 *
 * A pidfile is only a claim: it may be damaged, left by an older bootpath, or forged. `gc` follows
 * one only when the record is well-formed (an absolute, normalised run dir that is not the root or a
 * root-level directory, a marker of bootpath's own shape) and the live process under that pid
 * proves the claim by itself: its command line carries the machine's unique marker in `-name`,
 * a file of its own inside the recorded run dir (the console log), and the recorded overlay when
 * there is one. Everything here is pure; the reaper reads /proc and decides.
 */

/** 64 random bits, hex: unique per machine, carried in QEMU's `-name` and in the pidfile's name. */
export function newMachineMarker(): string {
  return randomBytes(8).toString('hex');
}

const MARKER_RE = /^[0-9a-f]{16}$/;
const NAME_RE = /^[a-z0-9-]{1,240}$/;

/**
 * Why `dir` cannot be a machine's run dir, or null when it can: absolute, normalised (no `..`, no
 * trailing slash), at least two components deep (a machine's run dir is results/<id>/runs/<run>/
 * machine-<m>), no control characters.
 */
export function runDirProblem(dir: unknown): string | null {
  if (typeof dir !== 'string' || dir.length === 0) return 'runDir is empty';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(dir)) return 'runDir contains control characters';
  if (!path.isAbsolute(dir)) return 'runDir is not an absolute path';
  if (path.normalize(dir) !== dir || dir.endsWith('/')) return 'runDir is not a normalised path';
  if (dir.split('/').filter((c) => c.length > 0).length < 2) return `runDir ${dir} is the root or a root-level directory`;
  return null;
}

/** True when `p` lies strictly inside `dir` (by path components, never a string prefix). */
export function isStrictlyInside(dir: string, p: string): boolean {
  if (!path.isAbsolute(p)) return false;
  const rel = path.relative(dir, path.normalize(p));
  return rel.length > 0 && rel !== '..' && !rel.startsWith('../') && !path.isAbsolute(rel);
}

/** The `-name` value (before any `,`) of a bootpath machine with this marker. */
export function markedProcessName(runId: string, machine: string, marker: string): string {
  return `bootpath-${runId}-${machine}-${marker}`;
}

export interface MachineIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with pid, the identity of the QEMU process. */
  pidStartTime: number;
  ownerPid: number;
  ownerStartTime: number;
  runDir: string;
  runId: string;
  machine: string;
  marker: string;
  /** The machine's qcow2 overlay, when it has one: it must be on the command line too. */
  overlay?: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

/**
 * Validate a parsed pidfile found at `fileName` (its base name). The name must be the one
 * bootpath gives it (`<runId>-<machine>-<marker>.json`), so a record copied elsewhere does not count.
 */
export function checkPidfileRecord(raw: unknown, fileName: string): Checked<MachineIdentity> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, reason: 'not a JSON object' };
  const r = raw as Record<string, unknown>;
  const pid = r['pid'];
  const ownerPid = r['ownerPid'];
  const pidStartTime = r['pidStartTime'];
  const ownerStartTime = r['ownerStartTime'];
  if (!isPositiveInt(pid) || pid <= 1) return { ok: false, reason: 'pid is not a process id above 1' };
  if (!isPositiveInt(ownerPid)) return { ok: false, reason: 'ownerPid is not a process id' };
  if (!isPositiveInt(pidStartTime) || !isPositiveInt(ownerStartTime)) return { ok: false, reason: 'start times are not positive integers' };
  const runDir = r['runDir'];
  const dirProblem = runDirProblem(runDir);
  if (dirProblem !== null || typeof runDir !== 'string') return { ok: false, reason: dirProblem ?? 'runDir is not a string' };
  const { runId, machine, marker, overlay } = r;
  if (typeof runId !== 'string' || !NAME_RE.test(runId)) return { ok: false, reason: 'runId is missing or not [a-z0-9-]' };
  if (typeof machine !== 'string' || !NAME_RE.test(machine)) return { ok: false, reason: 'machine is missing or not [a-z0-9-]' };
  if (typeof marker !== 'string' || !MARKER_RE.test(marker)) return { ok: false, reason: 'no machine marker (a pidfile of an older bootpath, or not bootpath’s)' };
  if (fileName !== pidfileName(runId, machine, marker)) return { ok: false, reason: `file name does not match its record (${pidfileName(runId, machine, marker)})` };
  const value: MachineIdentity = { pid, pidStartTime, ownerPid, ownerStartTime, runDir, runId, machine, marker };
  if (overlay !== undefined) {
    if (typeof overlay !== 'string' || !isStrictlyInside('/', overlay) || path.normalize(overlay) !== overlay) return { ok: false, reason: 'overlay is not a normalised absolute path' };
    value.overlay = overlay;
  }
  return { ok: true, value };
}

export function pidfileName(runId: string, machine: string, marker: string): string {
  return `${runId}-${machine}-${marker}.json`;
}

/** Values of `key=` inside QEMU option strings (`a=b,path=/x,,y` → `/x,y`), from every argument. */
function optionValues(argv: readonly string[], key: string): string[] {
  const out: string[] = [];
  for (const arg of argv) {
    // Split on single commas only: QEMU writes a literal comma as ',,'.
    const parts = arg.replaceAll(',,', '\u0000').split(',');
    for (const part of parts) if (part.startsWith(`${key}=`)) out.push(part.slice(key.length + 1).replaceAll('\u0000', ','));
  }
  return out;
}

/**
 * Why the process with this command line is not the machine `id` names, or null when it is.
 * Called only after pid and start time matched.
 */
export function identityMismatch(id: MachineIdentity, argv: readonly string[] | null): string | null {
  if (!argv || argv.length === 0) return 'its command line cannot be read';
  const nameAt = argv.indexOf('-name');
  const name = nameAt >= 0 ? (argv[nameAt + 1] ?? '').split(',')[0] : undefined;
  if (name !== markedProcessName(id.runId, id.machine, id.marker)) return `its command line does not carry the machine marker ${id.marker}`;
  const files = [...optionValues(argv, 'path'), ...optionValues(argv, 'file')];
  if (!files.some((f) => isStrictlyInside(id.runDir, f))) return `it has no file inside ${id.runDir} on its command line`;
  if (id.overlay !== undefined && !optionValues(argv, 'file').includes(id.overlay)) return `it does not use the overlay ${id.overlay}`;
  return null;
}
