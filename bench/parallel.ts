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
  /** Host CPU time of the harness and everything it ran (QEMU above all), in seconds. */
  cpuSeconds: number;
  summary: RunSummary;
}

/**
 * CPU time of this process's reaped children (utime + stime of the waited-for tree, from
 * /proc/self/stat): the harness and, since it waits for them, its QEMU processes.
 */
function childrenCpuSeconds(): number {
  // fields after the ")" that ends the command name: state is field 3, cutime 16, cstime 17
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}
/** USER_HZ: 100 on every Linux architecture bootpath runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

async function measure(file: string, parallel: number, results: string): Promise<Measured> {
  const started = Date.now();
  const cpuBefore = childrenCpuSeconds();
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
  const cpuSeconds = childrenCpuSeconds() - cpuBefore;
  const summary = JSON.parse(await fs.readFile(path.join(results, 'latest', 'summary.json'), 'utf8')) as RunSummary;
  if (code !== 0) throw new Error(`--parallel ${parallel} exited ${code}: ${summary.runs.map((r) => `${r.id} ${r.verdict} ${r.message ?? ''}`).join('; ')}`);
  return { parallel, wallMs, peakRssMiB: peak, cpuSeconds, summary };
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
    console.log(`  --parallel ${m.parallel}: wall ${s(m.wallMs)}; harness overhead ${(((busy - guest) / busy) * 100).toFixed(1)} % of run time; peak harness RSS ${m.peakRssMiB.toFixed(0)} MiB; host CPU ${(m.cpuSeconds / runs).toFixed(0)} core-s per run, ${(m.cpuSeconds / (m.wallMs / 1000)).toFixed(2)} cores busy on average`);
  }
  // A run that keeps c cores busy on its own cannot go faster than c / host-cores of serial when
  // runs overlap: that bound, not the scheduler, is what limits the ratio on a small host.
  const serialCores = results[0]!.cpuSeconds / (results[0]!.wallMs / 1000);
  console.log(`  best possible ratio on this host: ${Math.max(0.5, Math.min(1, serialCores / os.cpus().length)).toFixed(2)} (one run alone keeps ${serialCores.toFixed(2)} of ${os.cpus().length} cores busy)`);
  console.log(`  ratio parallel-2 / parallel-1: ${(results[1]!.wallMs / results[0]!.wallMs).toFixed(2)} (target ≤ 0.6)`);
  console.log(`  peak harness RSS with ${Math.min(4, runs)} machines at once: ${results[2]!.peakRssMiB.toFixed(0)} MiB (target ≤ 200 MB)`);
  await fs.rm(dir, { recursive: true, force: true });
}
