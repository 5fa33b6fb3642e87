import { cacheDir } from '../../../core/paths.js';
import { formatDuration } from '../../../core/units.js';
import { describeProvenance, type ProvenancePreview } from '../../../images/resolve.js';
import { estimatedCost } from '../../run/schedule.js';
import type { RunPlan } from '../../scenario/plan.js';
import type { CliIo } from '../io.js';
import { preflight, preflightExitCode, renderPreflight, type PreflightOptions, type PreflightProblem } from '../preflight.js';

/**
 * Print the expanded plan: runs, machines, the image provenance each would use (from the catalog
 * and the cache only — no network), steps. Nothing is booted. What would make a run fail before it
 * boots is listed on stderr and decides the exit code (harness/cli/preflight.ts).
 */
export async function printPlan(plans: RunPlan[], io: CliIo, json: boolean, checks: PreflightOptions): Promise<number> {
  const problems = await preflight(plans, checks);
  const code = await printExpandedPlan(plans, io, json, problems);
  io.stderr(renderPreflight(problems));
  return code === 0 ? preflightExitCode(problems) : code;
}

/** What --dry-run --json adds to each plan: the scheduler's estimate (CI shards from it) and its problems. */
function planExtras(plan: RunPlan, problems: PreflightProblem[]): { estimatedCost: number; preflight: PreflightProblem[] } {
  return { estimatedCost: estimatedCost(plan), preflight: problems.filter((p) => p.runs.includes(plan.id)) };
}

async function printExpandedPlan(plans: RunPlan[], io: CliIo, json: boolean, problems: PreflightProblem[]): Promise<number> {
  const provenance = new Map<string, ProvenancePreview>();
  for (const m of plans.flatMap((p) => p.machines)) {
    if (!provenance.has(m.image.entry.name)) provenance.set(m.image.entry.name, await describeProvenance(m.image.entry, cacheDir(), m.image.file));
  }
  if (json) {
    const out = plans.map((plan) => ({
      ...plan,
      machines: plan.machines.map((m) => ({ ...m, image: { name: m.image.entry.name, file: m.image.file, entry: m.image.entry, provenance: provenance.get(m.image.entry.name) } })),
      ...planExtras(plan, problems),
    }));
    io.stdout(JSON.stringify(out, null, 2) + '\n');
    return 0;
  }
  io.stdout(`dry run: ${plans.length} run${plans.length === 1 ? '' : 's'}\n`);
  for (const plan of plans) {
    io.stdout(`\n${plan.id}  (${plan.file}; timeout ${formatDuration(plan.timeoutMs)}${plan.questions.length ? `; informs ${plan.questions.join(', ')}` : ''})\n`);
    for (const m of plan.machines) {
      const e = m.image.entry;
      io.stdout(`  machine ${m.name}: ${e.firmware ?? 'bios'}, ${e.provisioning}, user ${e.user}; ${m.memoryMiB} MiB, ${m.cpus ?? 'auto'} CPUs\n`);
      io.stdout(`    image ${provenance.get(e.name)!.text}\n`);
      if (e.source.kind === 'testbed') io.stdout('    (testbed: emulated rpm-ostree/bootc; results test bootpath, they are not evidence about real bootc)\n');
    }
    for (const s of plan.steps) {
      const extras = ['expect-failure' in s.def && s.def['expect-failure'] ? 'expect failure' : '', s.def.record ? `records ${s.def.record}` : '', plan.machines.length > 1 ? `on ${s.machine}` : '', s.timeoutMs ? `timeout ${formatDuration(s.timeoutMs)}` : '']
        .filter(Boolean)
        .join('; ');
      io.stdout(`  ${String(s.index + 1).padStart(2)}. ${s.label}${extras ? `  (${extras})` : ''}\n`);
    }
  }
  return 0;
}
