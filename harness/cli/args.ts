/**
 * Command-line parsing. Subcommand words are reserved (harness/scenario/load.ts RESERVED_NAMES);
 * everything else positional is a scenario name or path.
 */
import { parseArgs } from 'node:util';
import { InputError } from '../../core/errors.js';
import { didYouMean } from '../../core/did-you-mean.js';
import { BACKEND_NAMES, DEFAULT_BACKEND, type BackendName } from '../../vm/backends.js';
import { isReporterName, REPORTER_NAMES, type ReporterName } from '../reporters/names.js';
import { resultsRootProblem } from '../results/layout.js';

export type Command = 'run' | 'validate' | 'doctor' | 'images' | 'gc' | 'schema' | 'merge' | 'help' | 'version';
const COMMANDS: Command[] = ['validate', 'doctor', 'images', 'gc', 'schema', 'merge', 'help', 'version', 'run'];

export type KeepPolicy = 'never' | 'on-failure' | 'always';
export type AccelChoice = 'auto' | 'kvm' | 'tcg';

export interface CliOptions {
  command: Command;
  positionals: string[];
  all: boolean;
  tags: string[];
  list: boolean;
  dryRun: boolean;
  /** With --dry-run: print what each machine would be sent (private key material redacted). */
  showProvisioning: boolean;
  parallel: number | 'auto';
  accel: AccelChoice;
  results: string | null;
  /** Where machine disks (qcow2 overlays) go instead of the run's private directory under the state dir. */
  workDir: string | null;
  keep: KeepPolicy;
  json: boolean;
  /** Named reporters; empty: the defaults (harness/reporters/registry.ts selectReporters). */
  reporters: ReporterName[];
  retries: number;
  shard: { index: number; total: number } | null;
  failFast: boolean;
  offline: boolean;
  backend: BackendName;
  verifyCache: boolean;
  insecureNoChecksum: boolean;
  write: boolean;
  check: boolean;
  force: boolean;
  allowMixed: boolean;
}

const OPTIONS = {
  all: { type: 'boolean' },
  tag: { type: 'string', multiple: true },
  list: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'show-provisioning': { type: 'boolean' },
  parallel: { type: 'string' },
  accel: { type: 'string' },
  results: { type: 'string' },
  'work-dir': { type: 'string' },
  keep: { type: 'string' },
  json: { type: 'boolean' },
  reporter: { type: 'string' },
  retries: { type: 'string' },
  shard: { type: 'string' },
  'fail-fast': { type: 'boolean' },
  offline: { type: 'boolean' },
  backend: { type: 'string' },
  'verify-cache': { type: 'boolean' },
  'insecure-no-checksum': { type: 'boolean' },
  write: { type: 'boolean' },
  check: { type: 'boolean' },
  force: { type: 'boolean' },
  'allow-mixed': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

function usageError(message: string): InputError {
  return new InputError(`${message}\nRun 'npm run scenario -- help' for usage.`);
}

function oneOf<T extends string>(flag: string, value: string | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((choices as readonly string[]).includes(value)) return value as T;
  const hint = didYouMean(value, choices);
  throw usageError(`invalid --${flag} '${value}'${hint ? ` (did you mean '${hint}'?)` : ''}; expected one of: ${choices.join(', ')}`);
}

function count(flag: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw usageError(`invalid --${flag} '${value}': expected a whole number >= ${min}`);
  return Number(value);
}

/** `--reporter a,b`; `auto` names the default live view, so it adds nothing. */
function reporterList(value: string | undefined): ReporterName[] {
  if (value === undefined) return [];
  const names: ReporterName[] = [];
  for (const name of value.split(',').map((n) => n.trim()).filter(Boolean)) {
    if (name === 'auto') continue;
    if (!isReporterName(name)) {
      const hint = didYouMean(name, REPORTER_NAMES);
      throw usageError(`invalid --reporter '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}; expected a comma list of: ${REPORTER_NAMES.join(', ')}`);
    }
    names.push(name);
  }
  return names;
}

function showProvisioningFlag(show: boolean | undefined, dryRun: boolean | undefined): boolean {
  if (show && !dryRun) throw usageError('--show-provisioning goes with --dry-run (it prints what each machine would be sent, and boots nothing)');
  return show ?? false;
}

export function parseCli(argv: string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    const message = (err as Error).message;
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message);
    if (unknown) {
      const flag = unknown[1]!;
      const hint = didYouMean(flag.replace(/^-+/, ''), Object.keys(OPTIONS));
      throw usageError(`unknown option ${flag}${hint ? ` (did you mean --${hint}?)` : ''}`);
    }
    const missing = /Option '(-{1,2}[^' ]+)[^']*' argument missing/.exec(message);
    if (missing) throw usageError(`option ${missing[1]} needs a value`);
    throw usageError(message.split('.')[0]!);
  }
  const v = parsed.values;
  let positionals = parsed.positionals;
  let command: Command = 'run';
  if (v.help) command = 'help';
  else if (v.version) command = 'version';
  else if (positionals.length > 0 && (COMMANDS as string[]).includes(positionals[0]!)) {
    command = positionals[0] as Command;
    positionals = positionals.slice(1);
  }

  let parallel: number | 'auto' = 1;
  if (v.parallel !== undefined) parallel = v.parallel === 'auto' ? 'auto' : count('parallel', v.parallel, 1, 1);

  let shard: CliOptions['shard'] = null;
  if (v.shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(v.shard);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) throw usageError(`invalid --shard '${v.shard}': expected i/n with 1 <= i <= n, e.g. 1/3`);
    shard = { index: Number(m[1]), total: Number(m[2]) };
  }

  if (v.results !== undefined) {
    const problem = resultsRootProblem(v.results);
    if (problem) throw usageError(`invalid --results ${JSON.stringify(v.results)}: ${problem}`);
  }

  if (v['work-dir'] !== undefined) {
    const problem = resultsRootProblem(v['work-dir'], '--work-dir');
    if (problem) throw usageError(`invalid --work-dir ${JSON.stringify(v['work-dir'])}: ${problem}`);
  }

  return {
    command,
    positionals,
    all: v.all ?? false,
    tags: v.tag ?? [],
    list: v.list ?? false,
    dryRun: v['dry-run'] ?? false,
    showProvisioning: showProvisioningFlag(v['show-provisioning'], v['dry-run']),
    parallel,
    accel: oneOf('accel', v.accel, ['auto', 'kvm', 'tcg'] as const, 'auto'),
    results: v.results ?? null,
    workDir: v['work-dir'] ?? null,
    keep: oneOf('keep', v.keep, ['never', 'on-failure', 'always'] as const, 'never'),
    json: v.json ?? false,
    reporters: reporterList(v.reporter),
    retries: count('retries', v.retries, 0, 0),
    shard,
    failFast: v['fail-fast'] ?? false,
    offline: v.offline ?? false,
    backend: oneOf('backend', v.backend, BACKEND_NAMES, DEFAULT_BACKEND),
    verifyCache: v['verify-cache'] ?? false,
    insecureNoChecksum: v['insecure-no-checksum'] ?? false,
    write: v.write ?? false,
    check: v.check ?? false,
    force: v.force ?? false,
    allowMixed: v['allow-mixed'] ?? false,
  };
}

export const USAGE = `bootpath — run rpm-ostree/bootc upgrade-path scenarios in real VMs

Usage (through npm, put options after --):
  npm run scenario <name> [<name>…]        run scenarios from scenarios/<name>.yaml
  npm run scenario -- --all | --tag T        run every scenario / those tagged T
  npm run scenario -- --list                 list scenarios: name, summary, tags, matrix size
  npm run scenario -- <name> --dry-run       print the expanded plan (runs, machines, steps, images)
  npm run scenario -- <name> --dry-run --show-provisioning   also what each machine would be sent
                                             (Ignition JSON or systemd credentials; private keys redacted)
  npm run scenario -- validate [files…]      validate scenario files (default: every scenario and image)
  npm run scenario -- doctor                 report host readiness (QEMU, KVM, memory, disk, podman)
  npm run scenario -- images list|pull NAME|build NAME|prune
  npm run scenario -- gc                     reap machines left behind by a crashed run
  npm run scenario -- schema [--write|--check]  print, write or check the published schemas (scenarios, catalog, results)
  npm run scenario -- merge DIR… [--results DIR] [--allow-mixed]  combine results directories (CI shards) into one

Options:
  --parallel N|auto     scenarios at once (default 1; auto sizes to host memory/CPUs)
  --accel auto|kvm|tcg  acceleration (auto probes KVM for real and falls back to TCG)
  --backend ${BACKEND_NAMES.join('|')}   machine backend (default ${DEFAULT_BACKEND})
  --results DIR         results root (default results/); each run writes results/<run-id>/
  --work-dir DIR        put machine disks (qcow2 overlays, which grow with every deployment)
                        under DIR instead of the state dir (never in results)
  --keep never|on-failure|always   keep machines running after the run (prints the ssh command)
  --retries N           rerun failed runs; a pass on retry is reported flaky
  --shard i/n           run the i-th of n deterministic slices of the expanded run list
  --fail-fast           stop scheduling new runs after the first failure
  --offline             use only cached images; fail fast naming a missing one
  --json                machine-readable summary on stdout
  --reporter LIST       comma list of reporters: one live view (tty|line|quiet; default tty on a
                        terminal, line otherwise) and outputs (summary.json, junit, report.md,
                        report.html, github; default: the four files, github in GitHub Actions)

Exit codes: 0 all passed · 1 a scenario failed · 2 invalid input · 3 host not capable · 130 interrupted
`;
