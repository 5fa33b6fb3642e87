import { readdirSync, readFileSync } from 'node:fs';

/**
 * pids of live (not zombie) processes whose command line mentions `needle` (a QEMU's mentions its
 * run dir, its overlay and console paths); `program`: only those whose argv[0] starts with it.
 */
export function processesMentioning(needle: string, program?: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && cmd.includes(needle) && (program === undefined || cmd.startsWith(program))) pids.push(Number(entry));
    } catch {
      // exited while scanning
    }
  }
  return pids;
}
