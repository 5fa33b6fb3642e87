/**
 * What Ctrl-C (or SIGTERM) does to a run. The machines are already killed synchronously by the
 * reaper's handler; the first signal then lets the runner write the results of what finished, but
 * never waits for it longer than `graceMs`: whatever is stuck (a filesystem call that does not
 * return, a hung reporter) the process ends within seconds. A second signal ends it at once.
 */
import { ExitCode } from '../../core/errors.js';

export const INTERRUPT_GRACE_MS = 5000;

export interface InterruptOptions {
  abort: (reason: Error) => void;
  notify: (text: string) => void;
  exit: (code: number) => void;
  graceMs?: number;
}

export function interruptHandler(opts: InterruptOptions): (signal: NodeJS.Signals) => void {
  let signals = 0;
  return (signal) => {
    signals++;
    if (signals > 1) {
      opts.exit(ExitCode.interrupted);
      return;
    }
    const graceMs = opts.graceMs ?? INTERRUPT_GRACE_MS;
    opts.notify(`\n${signal}: stopping — machines killed, writing results (press Ctrl-C again to quit now; quitting anyway in ${Math.round(graceMs / 1000)} s)\n`);
    // unref: a run that finishes writing on time exits on its own, with its own code.
    setTimeout(() => opts.exit(ExitCode.interrupted), graceMs).unref();
    opts.abort(new Error(`interrupted by ${signal}`));
  };
}
