import { randomBytes } from 'node:crypto';
import { errorMessage, InfraError } from '../../core/errors.js';
import { parseFailedUnits } from '../guest/reboot.js';
import { shQuote } from '../guest/quote.js';
import type { GuestSession } from '../guest/session.js';
import { parseBootcStatus } from './bootc.js';
import { mergeDeployments } from './merge.js';
import { parseRpmOstreeStatus } from './rpm-ostree.js';
import { parseCmdline, parseOsRelease } from './text.js';
import type { BootcHost, HostState, RpmOstreeStatus, ToolState } from './types.js';

/** The guest commands behind each section; tests replace the tools with fixture printers. */
export interface StateCommands {
  bootId: string;
  cmdline: string;
  osRelease: string;
  systemState: string;
  failedUnits: string;
  rpmOstree: string;
  bootc: string;
  /** Older bootc (before `--format`) only knows `--json`. */
  bootcLegacy: string;
}

export const defaultStateCommands: StateCommands = {
  bootId: 'cat /proc/sys/kernel/random/boot_id',
  cmdline: 'cat /proc/cmdline',
  osRelease: 'cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release',
  systemState: 'systemctl is-system-running',
  failedUnits: 'systemctl --failed --plain --no-legend',
  rpmOstree: 'rpm-ostree status --json',
  bootc: 'bootc status --format=json',
  bootcLegacy: 'bootc status --json',
};

export interface ReadStateOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Run the script with sudo (default true: bootc status needs root). */
  sudo?: boolean;
  commands?: Partial<StateCommands>;
}

interface Section {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

type SectionName = keyof StateCommands;
const ORDER: SectionName[] = ['bootId', 'cmdline', 'osRelease', 'systemState', 'failedUnits', 'rpmOstree', 'bootc'];
/** Sections that run concurrently with the rest (bootc is last, so its exit code drives the fallback). */
const PARALLEL: SectionName[] = ['rpmOstree', 'bootc'];

/**
 * One guest script prints every section between delimiter lines that carry a random nonce, on
 * stdout and stderr alike, with the exit code in the end line. One SSH round trip instead of seven:
 * under TCG every exec costs a process spawn through sshd and a login shell.
 */
export function buildStateScript(commands: StateCommands, nonce: string): string {
  const lines = [
    `N=${shQuote(`@@bootpath-${nonce}`)}`,
    'T=$(mktemp -d) || exit 1',
    "trap 'rm -rf \"$T\"' EXIT",
    // The two status tools are the slow sections (seconds each in an emulated guest); they run
    // side by side, each into its own files, and are printed in order afterwards.
    'bg() { ( sh -c "$2" </dev/null >"$T/$1.out" 2>"$T/$1.err"; echo $? >"$T/$1.rc" ) & }',
    'show() {',
    '  printf "%s BEGIN %s\\n" "$N" "$1"; printf "%s BEGIN %s\\n" "$N" "$1" >&2',
    '  cat "$T/$1.out"; cat "$T/$1.err" >&2; rc=$(cat "$T/$1.rc")',
    '  printf "\\n%s END %s %s\\n" "$N" "$1" "$rc"; printf "\\n%s END %s %s\\n" "$N" "$1" "$rc" >&2',
    '}',
    'run() { bg "$1" "$2"; wait $!; show "$1"; }',
    ...PARALLEL.map((name) => `bg ${name} ${shQuote(commands[name])}`),
    ...ORDER.filter((name) => !PARALLEL.includes(name)).map((name) => `run ${name} ${shQuote(commands[name])}`),
    'wait',
    ...PARALLEL.map((name) => `show ${name}`),
    // clap rejects an unknown option with exit 2: fall back to the old spelling.
    `if [ "$rc" = 2 ]; then run bootcLegacy ${shQuote(commands.bootcLegacy)}; fi`,
    'exit 0',
  ];
  return lines.join('\n');
}

/** Split the script's output back into sections (exported for tests). */
export function splitSections(stdout: string, stderr: string, nonce: string): Map<string, Section> {
  const marker = `@@bootpath-${nonce}`;
  const pick = (text: string): Map<string, { body: string; rc: number | null }> => {
    const out = new Map<string, { body: string; rc: number | null }>();
    const re = new RegExp(`${marker} BEGIN (\\w+)\\n([\\s\\S]*?)\\n${marker} END \\1 (\\d+)\\n`, 'g');
    for (const m of text.matchAll(re)) out.set(m[1]!, { body: m[2]!, rc: Number(m[3]) });
    return out;
  };
  const outs = pick(stdout);
  const errs = pick(stderr);
  const sections = new Map<string, Section>();
  for (const [name, o] of outs) {
    sections.set(name, { stdout: o.body, stderr: errs.get(name)?.body ?? '', exitCode: o.rc });
  }
  return sections;
}

/** POSIX shells exit 127 for "command not found"; any other failure is the tool's own error. */
function missingTool(s: Section): boolean {
  return s.exitCode === 127;
}

function describeFailure(tool: string, s: Section): string {
  const detail = (s.stderr.trim() || s.stdout.trim()).split('\n').slice(-3).join(' ').slice(0, 400);
  return `\`${tool}\` exited ${String(s.exitCode)}${detail ? `: ${detail}` : ''}`;
}

function toolState<T>(tool: string, s: Section | undefined, parse: (text: string) => T): ToolState<T> {
  if (!s) return { available: false, status: null, error: `no output section for ${tool}` };
  if (missingTool(s)) return { available: false, status: null };
  if (s.exitCode !== 0) return { available: true, status: null, error: describeFailure(tool, s) };
  try {
    return { available: true, status: parse(s.stdout) };
  } catch (e) {
    return { available: true, status: null, error: errorMessage(e) };
  }
}

/** Build a HostState from the sections of one capture (exported for unit tests with fixtures). */
export function hostStateFromSections(sections: Map<string, Section>, commands: StateCommands, capturedAt: Date): HostState {
  const text = (name: SectionName): string | null => {
    const s = sections.get(name);
    return s && s.exitCode === 0 ? s.stdout : null;
  };
  const rpmOstree: ToolState<RpmOstreeStatus> = toolState(commands.rpmOstree, sections.get('rpmOstree'), parseRpmOstreeStatus);
  let bootc: ToolState<BootcHost> = toolState(commands.bootc, sections.get('bootc'), parseBootcStatus);
  const legacy = sections.get('bootcLegacy');
  if (legacy && !bootc.status) {
    bootc = toolState(commands.bootcLegacy, legacy, parseBootcStatus);
  }
  // `systemctl is-system-running` exits non-zero for degraded; its stdout is the answer either way.
  const stateSection = sections.get('systemState');
  const systemState = stateSection && !missingTool(stateSection) ? stateSection.stdout.trim() || null : null;
  const merged = mergeDeployments(rpmOstree.status, bootc.status);
  const bootId = text('bootId')?.trim() || null;
  return {
    capturedAt: capturedAt.toISOString(),
    bootId,
    systemState,
    failedUnits: parseFailedUnits(text('failedUnits') ?? ''),
    kargs: parseCmdline(text('cmdline') ?? ''),
    osRelease: parseOsRelease(text('osRelease') ?? ''),
    rpmOstree,
    bootc,
    booted: merged.booted,
    staged: merged.staged,
    rollback: merged.rollback,
    disagreements: merged.disagreements,
  };
}

/**
 * Read the guest's deployment state in one SSH round trip. Absent tools are "not available", not
 * errors; a tool that fails or prints something unparseable keeps its error next to a null status.
 */
export async function readHostState(session: GuestSession, opts: ReadStateOptions = {}): Promise<HostState> {
  const commands: StateCommands = { ...defaultStateCommands, ...opts.commands };
  const nonce = randomBytes(8).toString('hex');
  const capturedAt = new Date();
  const r = await session.exec(buildStateScript(commands, nonce), {
    timeoutMs: opts.timeoutMs ?? 60_000,
    sudo: opts.sudo ?? true,
    signal: opts.signal,
    label: 'read host state (rpm-ostree status, bootc status, cmdline, os-release, boot id, systemd)',
  });
  if (r.timedOut || r.exitCode !== 0) {
    const why = r.timedOut ? `timed out after ${r.durationMs} ms` : `exited ${String(r.exitCode ?? r.signal)}`;
    const hint = /sudo/.test(r.stderr) ? ' (sudo must work without a password for this user)' : '';
    throw new InfraError(
      `reading the host state on ${session.endpoint.host}:${session.endpoint.port} ${why}${hint}: ${r.stderr.trim().slice(0, 400) || 'no output'}`,
      'ssh',
    );
  }
  const sections = splitSections(r.stdout, r.stderr, nonce);
  if (!sections.has('bootId')) {
    throw new InfraError(`reading the host state: the guest script printed no sections (stdout starts ${JSON.stringify(r.stdout.slice(0, 200))})`, 'ssh');
  }
  return hostStateFromSections(sections, commands, capturedAt);
}
