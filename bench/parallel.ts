/**
 * Parallel efficiency, harness overhead and harness memory, on the testbed:
 *
 *   npm run bench -- parallel [runs=4] [settings=1,2,4]
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
  // A failed run is part of the measurement (an overloaded host is what this bench probes): report it, go on.
  if (code !== 0) console.error(`bench: --parallel ${parallel} exited ${code}: ${summary.runs.filter((r) => r.verdict !== 'passed').map((r) => `${r.id} ${r.verdict}: ${(r.message ?? '').split('\n')[0]}`).join('; ')}`);
  return { parallel, wallMs, peakRssMiB: peak, cpuSeconds, summary };
}

export async function parallelBench(args: string[]): Promise<void> {
  const runs = Number(args[0] ?? 4);
  // settings to measure, e.g. `parallel 4 1,2` (default 1,2,4; the ratio needs 1 and 2, the RSS line 4)
  const settings = (args[1] ?? '1,2,4').split(',').map(Number);
  if (settings.some((p) => !Number.isInteger(p) || p < 1)) throw new Error(`settings must be a comma-separated list of positive integers, not ${args[1]}`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-bench-par-'));
  const file = path.join(dir, 'bench-parallel.yaml');
  await fs.writeFile(file, SCENARIO(runs));
  const results: Measured[] = [];
  for (const p of settings) {
    console.error(`bench: ${runs} runs with --parallel ${p}…`);
    results.push(await measure(file, p, path.join(dir, `results-${p}`)));
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(`parallel (${runs} testbed runs: boot, state read, reboot, state read; ${os.cpus().length} CPUs; accel ${results[0]!.summary.host.accel}; ${new Date().toISOString()})`);
  for (const m of results) {
    const busy = m.summary.runs.reduce((t, r) => t + r.durationMs, 0);
    const guest = m.summary.runs.reduce((t, r) => t + r.guestTimeMs, 0);
    const passed = m.summary.runs.filter((r) => r.verdict === 'passed').length;
    console.log(`  --parallel ${m.parallel}: ${passed}/${m.summary.runs.length} passed; wall ${s(m.wallMs)}; harness overhead ${(((busy - guest) / busy) * 100).toFixed(1)} % of run time; peak harness RSS ${m.peakRssMiB.toFixed(0)} MiB; host CPU ${(m.cpuSeconds / runs).toFixed(0)} core-s per run, ${(m.cpuSeconds / (m.wallMs / 1000)).toFixed(2)} cores busy on average`);
  }
  const at = (p: number) => results.find((m) => m.parallel === p);
  const one = at(1);
  const two = at(2);
  const four = at(4);
  if (one) {
    // A run that keeps c cores busy on its own cannot go faster than c / host-cores of serial when
    // runs overlap: that bound, not the scheduler, is what limits the ratio on a small host.
    const cores = os.cpus().length;
    const serialCores = one.cpuSeconds / (one.wallMs / 1000);
    console.log(`  best possible ratio on this host: ${Math.max(0.5, Math.min(1, serialCores / cores)).toFixed(2)} (one run alone keeps ${serialCores.toFixed(2)} of ${cores} cores busy)`);
  }
  if (one && two) console.log(`  ratio parallel-2 / parallel-1: ${(two.wallMs / one.wallMs).toFixed(2)} (target ≤ 0.6)`);
  if (four) console.log(`  peak harness RSS with ${Math.min(4, runs)} machines at once: ${four.peakRssMiB.toFixed(0)} MiB (target ≤ 200 MB)`);
  await fs.rm(dir, { recursive: true, force: true });
}
