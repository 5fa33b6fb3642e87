/**
 * What would make a run fail before anything boots, found from the plans, the catalog, the cache
 * and the host alone (no network, no podman pull): an unpinned download, a missing `copy:` source
 * or registry secret, a builder tool that is not installed, an image --offline cannot find.
 * `--dry-run` prints these so a CI job can stop in seconds instead of erroring hours later.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ExitCode, HostNotCapableError, InputError } from '../../core/errors.js';
import type { CatalogImage } from '../../images/catalog.js';
import { pullCommand } from '../../images/provenance.js';
import { describeProvenance } from '../../images/resolve.js';
import { resolveUserPath } from '../../images/sources/common.js';
import { authFileFor, requireBuilderTool } from '../../images/sources/oci.js';
import { missingChecksumError } from '../../images/sources/url.js';
import type { RunPlan } from '../scenario/plan.js';

/** `input`: the user's files or flags must change (exit 2). `host`: this machine lacks something (exit 3). */
export type PreflightProblem =
  | { kind: 'input'; subject: string; message: string; runs: string[] }
  | { kind: 'host'; subject: string; message: string; remedy: string; runs: string[] };

export interface PreflightOptions {
  insecureNoChecksum: boolean;
  offline: boolean;
  cacheDir: string;
  env?: NodeJS.ProcessEnv;
}

type Found = { kind: 'input'; message: string } | { kind: 'host'; message: string; remedy: string };

/** Checks for one image, whichever runs use it. */
async function imageProblems(image: CatalogImage, opts: PreflightOptions): Promise<Found[]> {
  const { entry, file } = image;
  const s = entry.source;
  const env = opts.env ?? process.env;
  const found: Found[] = [];
  switch (s.kind) {
    case 'url':
      if (!s.sha256 && !opts.insecureNoChecksum) found.push({ kind: 'input', message: missingChecksumError(entry, s, file).message });
      break;
    case 'local': {
      const disk = resolveUserPath(s.path, file);
      if (!existsSync(disk)) found.push({ kind: 'input', message: `image '${entry.name}': the disk ${disk} (source.path in ${file}) does not exist` });
      break;
    }
    case 'oci':
      // Offline, a cached disk is booted as it is; online, every run pulls (the digest keys the cache).
      if (opts.offline) break;
      try {
        requireBuilderTool(s.builder ?? 'bootc-image-builder', env);
      } catch (err) {
        if (!(err instanceof HostNotCapableError)) throw err;
        found.push({ kind: 'host', message: `image '${entry.name}' (${s.image}): ${err.message}`, remedy: err.remedy });
      }
      try {
        authFileFor(entry, env, file);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        found.push({ kind: 'input', message: err.message });
      }
      break;
    case 'coreos-stream':
    case 'testbed':
      break;
  }
  if (opts.offline && s.kind !== 'local' && s.kind !== 'testbed') {
    const preview = await describeProvenance(entry, opts.cacheDir, file);
    if (!preview.cached) found.push({ kind: 'input', message: `image '${entry.name}' is not in the cache and --offline forbids fetching it; fetch it while online with: ${pullCommand(entry.name)}` });
  }
  return found;
}

/** Files that `copy:` steps send to the guest must exist on this machine. */
function copyProblems(plan: RunPlan): { subject: string; message: string }[] {
  const out: { subject: string; message: string }[] = [];
  for (const step of plan.steps) {
    if (!('copy' in step.def)) continue;
    const { src, direction = 'to-guest' } = step.def.copy;
    if (direction !== 'to-guest') continue;
    const local = path.resolve(plan.baseDir, src);
    if (existsSync(local)) continue;
    const secret = local.split(path.sep).includes('secrets');
    out.push({
      subject: local,
      message: `step ${step.index + 1} (${step.label}) of ${plan.file} copies ${local}, which does not exist${secret ? ' — a secret is never in the repository: put it there yourself (the scenario summary says what it is)' : ''}`,
    });
  }
  return out;
}

export async function preflight(plans: RunPlan[], opts: PreflightOptions): Promise<PreflightProblem[]> {
  const problems = new Map<string, PreflightProblem>();
  const add = (key: string, p: PreflightProblem) => {
    const existing = problems.get(key);
    if (existing) existing.runs.push(...p.runs.filter((r) => !existing.runs.includes(r)));
    else problems.set(key, p);
  };
  const images = new Map<string, { image: CatalogImage; runs: string[] }>();
  for (const plan of plans) {
    for (const m of plan.machines) {
      const seen = images.get(m.image.entry.name) ?? { image: m.image, runs: [] };
      if (!seen.runs.includes(plan.id)) seen.runs.push(plan.id);
      images.set(m.image.entry.name, seen);
    }
    for (const c of copyProblems(plan)) add(`copy:${c.subject}`, { kind: 'input', subject: c.subject, message: c.message, runs: [plan.id] });
  }
  for (const [name, { image, runs }] of images) {
    for (const [i, f] of (await imageProblems(image, opts)).entries()) {
      add(`image:${name}:${i}`, f.kind === 'host' ? { kind: 'host', subject: name, message: f.message, remedy: f.remedy, runs: [...runs] } : { kind: 'input', subject: name, message: f.message, runs: [...runs] });
    }
  }
  return [...problems.values()];
}

/** The readable list for stderr. */
export function renderPreflight(problems: PreflightProblem[]): string {
  if (problems.length === 0) return '';
  const lines = [`would fail before booting (${problems.length} problem${problems.length === 1 ? '' : 's'}):`];
  for (const p of problems) {
    lines.push(`  - ${p.message.split('\n').join('\n    ')}`);
    if (p.kind === 'host') lines.push(`    remedy: ${p.remedy}`);
    lines.push(`    affects: ${p.runs.join(', ')}`);
  }
  return lines.join('\n') + '\n';
}

/** Input problems first (the user's files must change), then what the host lacks. */
export function preflightExitCode(problems: PreflightProblem[]): number {
  if (problems.some((p) => p.kind === 'input')) return ExitCode.invalidInput;
  if (problems.some((p) => p.kind === 'host')) return ExitCode.hostNotCapable;
  return ExitCode.ok;
}
