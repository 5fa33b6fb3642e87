/**
 * Parallel efficiency, harness overhead and harness memory, on the testbed:
 *
 *   npm run bench -- parallel [runs=4]
 *
 * Runs the same small scenario (boot, state read, reboot, state read) `runs` times with
 * --parallel 1, then 2, then 4, and prints: wall time per setting and the ratio parallel-2 /
 * parallel-1 (target ≤ 0.6); harness overhead = run time not spent in guest boots and guest
 * commands, as a share of the run (target ≤ 5 %); the harness process's peak RSS with 4 machines
 * at once (target ≤ 200 MB). The machine count is what the host sees: under TCG each guest is a
 * busy host process, so the ratio says as much about the host as about bootpath.
 */
import { spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../core/paths.js';
import type { RunSummary } from '../harness/results/model.js';

const SCENARIO = (runs: number) => `name: bench-parallel
summary: benchmark - boot, read state, reboot, read state
machine: { image: testbed, memory: 1GiB, cpus: 1 }
matrix:
  copy: [${Array.from({ length: runs }, (_, i) => i + 1).join(', ')}]
steps:
  - expect: { booted: { image: localhost/bootpath/testbed:v1 } }
  - reboot
  - expect: { system: running }
`;

interface Measured {
  parallel: number;
  wallMs: number;
  peakRssMiB: number;
  summary: RunSummary;
}

async function measure(file: string, parallel: number, results: string): Promise<Measured> {
  const started = Date.now();
  let peak = 0;
  const child = spawn(process.execPath, ['bin/bootpath.js', file, '--parallel', String(parallel), '--reporter', 'quiet', '--results', results], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const sampler = setInterval(() => {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) / 1024);
    } catch {
      // the process is gone
    }
  }, 250);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(sampler);
  const wallMs = Date.now() - started;
  const summary = JSON.parse(await fs.readFile(path.join(results, 'latest', 'summary.json'), 'utf8')) as RunSummary;
  if (code !== 0) throw new Error(`--parallel ${parallel} exited ${code}: ${summary.runs.map((r) => `${r.id} ${r.verdict} ${r.message ?? ''}`).join('; ')}`);
  return { parallel, wallMs, peakRssMiB: peak, summary };
}

export async function parallelBench(args: string[]): Promise<void> {
  const runs = Number(args[0] ?? 4);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-bench-par-'));
  const file = path.join(dir, 'bench-parallel.yaml');
  await fs.writeFile(file, SCENARIO(runs));
  const results: Measured[] = [];
  for (const p of [1, 2, 4]) {
    console.error(`bench: ${runs} runs with --parallel ${p}…`);
    results.push(await measure(file, p, path.join(dir, `results-${p}`)));
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(`parallel (${runs} testbed runs: boot, state read, reboot, state read; ${os.cpus().length} CPUs; accel ${results[0]!.summary.host.accel}; ${new Date().toISOString()})`);
  for (const m of results) {
    const busy = m.summary.runs.reduce((t, r) => t + r.durationMs, 0);
    const guest = m.summary.runs.reduce((t, r) => t + r.guestTimeMs, 0);
    console.log(`  --parallel ${m.parallel}: wall ${s(m.wallMs)}; harness overhead ${(((busy - guest) / busy) * 100).toFixed(1)} % of run time; peak harness RSS ${m.peakRssMiB.toFixed(0)} MiB`);
  }
  console.log(`  ratio parallel-2 / parallel-1: ${(results[1]!.wallMs / results[0]!.wallMs).toFixed(2)} (target ≤ 0.6)`);
  console.log(`  peak harness RSS with ${Math.min(4, runs)} machines at once: ${results[2]!.peakRssMiB.toFixed(0)} MiB (target ≤ 200 MB)`);
  await fs.rm(dir, { recursive: true, force: true });
}
