/**
 * Child processes that die with bootpath. Node cannot call prctl(PR_SET_PDEATHSIG) itself, so the
 * child runs through `setpriv --pdeathsig KILL`: the kernel then kills it when bootpath dies, even
 * by SIGKILL. setpriv execs the program: same pid, so killing the child still works.
 */
import { whichBinary } from './exec.js';

/** The command line that runs `file args` under setpriv's parent-death signal (as is without setpriv). */
export function withParentDeathSignal(setprivPath: string | null, file: string, args: string[]): { file: string; args: string[] } {
  if (!setprivPath) return { file, args };
  return { file: setprivPath, args: ['--pdeathsig', 'KILL', '--', file, ...args] };
}

/**
 * The setpriv to use, or null. `wanted` false, or BOOTPATH_VM_NO_PDEATHSIG=1 (tests of the pidfile
 * reaper, which must see orphans survive), turns it off.
 */
export async function parentDeathHelper(wanted?: boolean): Promise<string | null> {
  const on = wanted ?? process.env.BOOTPATH_VM_NO_PDEATHSIG !== '1';
  return on ? whichBinary('setpriv') : null;
}
