/**
 * Benchmarks, run on purpose (never inside `npm test`):
 *   npm run bench -- ssh-latency [reboots] [hint|poll]
 *   npm run bench -- parallel [runs] [settings]
 * Record what they print in README.md's Performance section, with the date and the machine.
 */
import { parallelBench } from './parallel.js';
import { sshLatencyBench } from './ssh-latency.js';

const benches: Record<string, (args: string[]) => Promise<void>> = {
  'ssh-latency': sshLatencyBench,
  parallel: parallelBench,
};

const [name, ...args] = process.argv.slice(2);
const bench = name ? benches[name] : undefined;
if (!bench) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [args]`);
  process.exitCode = 2;
} else {
  await bench(args);
}
