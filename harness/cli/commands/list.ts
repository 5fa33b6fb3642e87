import type { LoadedScenario } from '../../scenario/load.js';
import type { CliIo } from '../io.js';

export function listScenarios(scenarios: LoadedScenario[], io: CliIo, json: boolean): number {
  const rows = scenarios.map((s) => ({
    name: s.scenario.name,
    summary: s.scenario.summary,
    tags: s.scenario.tags ?? [],
    questions: s.scenario.questions ?? [],
    runs: s.plans.length,
    images: [...new Set(s.plans.flatMap((p) => p.machines.map((m) => m.image.entry.name)))],
  }));
  if (json) {
    io.stdout(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  const width = Math.max(4, ...rows.map((r) => r.name.length));
  io.stdout(`${'NAME'.padEnd(width)}  RUNS  QUESTIONS  TAGS / SUMMARY\n`);
  for (const r of rows) {
    io.stdout(`${r.name.padEnd(width)}  ${String(r.runs).padStart(4)}  ${r.questions.join(',').padEnd(9)}  [${r.tags.join(', ')}] ${r.summary}\n`);
  }
  return 0;
}
