import { formatDuration } from '../../../core/units.js';
import { describeImageSource } from '../../../images/describe.js';
import type { RunPlan } from '../../scenario/plan.js';
import type { CliIo } from '../io.js';

/** Print the expanded plan: runs, machines, resolved images, steps. Nothing is booted. */
export function printPlan(plans: RunPlan[], io: CliIo, json: boolean): number {
  if (json) {
    io.stdout(JSON.stringify(plans.map(planToJson), null, 2) + '\n');
    return 0;
  }
  io.stdout(`dry run: ${plans.length} run${plans.length === 1 ? '' : 's'}\n`);
  for (const plan of plans) {
    io.stdout(`\n${plan.id}  (${plan.file}; timeout ${formatDuration(plan.timeoutMs)}${plan.questions.length ? `; informs ${plan.questions.join(', ')}` : ''})\n`);
    for (const m of plan.machines) {
      const e = m.image.entry;
      io.stdout(`  machine ${m.name}: image ${e.name} — ${describeImageSource(e.source)}; ${e.firmware ?? 'bios'}, ${e.provisioning}, user ${e.user}; ${m.memoryMiB} MiB, ${m.cpus} CPUs${m.kargs.length ? `, kargs ${m.kargs.join(' ')}` : ''}\n`);
      if (e.source.kind === 'testbed') io.stdout('    (testbed: emulated rpm-ostree/bootc; results test bootpath, they are not evidence about real bootc)\n');
    }
    for (const s of plan.steps) {
      const extras = [s.timeoutMs ? `timeout ${formatDuration(s.timeoutMs)}` : '', 'expect-failure' in s.def && s.def['expect-failure'] ? 'expect failure' : '', s.def.record ? `records ${s.def.record}` : '', plan.machines.length > 1 ? `on ${s.machine}` : '']
        .filter(Boolean)
        .join('; ');
      io.stdout(`  ${String(s.index + 1).padStart(2)}. ${s.label}${extras ? `  (${extras})` : ''}\n`);
    }
  }
  return 0;
}

export function planToJson(plan: RunPlan): unknown {
  return {
    ...plan,
    machines: plan.machines.map((m) => ({ ...m, image: { name: m.image.entry.name, file: m.image.file, source: m.image.entry.source, describe: describeImageSource(m.image.entry.source) } })),
  };
}
