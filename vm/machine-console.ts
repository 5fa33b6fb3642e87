import path from 'node:path';
import { InfraError } from '../core/errors.js';
import { CONSOLE_CHECKS, matchConsoleLine, type ConsoleCheck } from './console-checks.js';
import { ConsoleTail, cleanConsoleText } from './console.js';
import { MachineFailure, type MachineEvent } from './machine.js';

/**
 * The serial consoles of one machine, one per boot (`console-<n>.log`), with what every backend
 * does with them: the problem watcher (console checks → console-problem events, fatal ones abort
 * the failure signal after a short grace so the excerpt has the stack trace), waitForConsole and
 * the tail for error messages. Backends only say when a boot starts and whether the machine is off.
 */

/** How long to collect console lines after a fatal one, so the excerpt has the stack trace. */
const FAILURE_EXCERPT_GRACE_MS = 500;

export interface MachineConsoleOptions {
  machineName: string;
  runDir: string;
  checks?: readonly ConsoleCheck[];
  emit: (event: MachineEvent) => void;
  /** The machine's failure controller: fatal console lines abort it. */
  abort: AbortController;
  /** True when the machine is off for good (no process, no restart pending): waits then fail. */
  isOff: () => boolean;
  /** True while a boot's process runs (its console file can still grow). */
  isRunning: () => boolean;
}

export class MachineConsole {
  private readonly tails: ConsoleTail[] = [];
  private readonly waiters = new Set<() => void>();
  private fatalPending = false;

  constructor(private readonly o: MachineConsoleOptions) {}

  get bootCount(): number {
    return this.tails.length;
  }

  /** Path of the current boot's console file (console-1.log before the first boot). */
  get consoleLog(): string {
    return this.tails.at(-1)?.file ?? path.join(this.o.runDir, 'console-1.log');
  }

  get current(): ConsoleTail | undefined {
    return this.tails.at(-1);
  }

  static fileFor(runDir: string, boot: number): string {
    return path.join(runDir, `console-${boot}.log`);
  }

  /** Start tailing boot `n`'s console file (it may not exist yet). */
  startBoot(n: number, file: string = MachineConsole.fileFor(this.o.runDir, n)): ConsoleTail {
    const tail = new ConsoleTail(file, n);
    this.tails[n - 1] = tail;
    tail.onData(() => this.wake());
    tail.onLine((line) => this.watchLine(n, line));
    tail.start();
    return tail;
  }

  /** Re-check every pending wait (new text, or the machine changed state). */
  wake(): void {
    for (const w of this.waiters) w();
  }

  async stopAll(): Promise<void> {
    for (const t of this.tails) await t.stop();
  }

  clearWaiters(): void {
    this.waiters.clear();
  }

  private watchLine(boot: number, rawLine: string): void {
    const line = cleanConsoleText(rawLine);
    const check = matchConsoleLine(line, this.o.checks ?? CONSOLE_CHECKS);
    if (!check) return;
    this.o.emit({ type: 'console-problem', boot, pattern: check.id, line });
    if (check.severity !== 'fatal' || this.fatalPending || this.o.abort.signal.aborted) return;
    this.fatalPending = true;
    // Give the kernel a moment to print the trace that follows the headline, then fail.
    const message = `machine ${this.o.machineName}: ${check.description} on the console (boot ${boot}): ${line.trim()}`;
    setTimeout(() => {
      const refresh = this.current && this.o.isRunning() ? this.current.readMore() : Promise.resolve();
      void refresh.catch(() => undefined).then(() => this.fail(check.kind, message));
    }, FAILURE_EXCERPT_GRACE_MS).unref();
  }

  /** Abort the machine's failure signal with a MachineFailure carrying the console tail. */
  fail(kind: MachineFailure['kind'], message: string): void {
    if (this.o.abort.signal.aborted) return;
    this.o.abort.abort(new MachineFailure(kind, message, this.tail(40)));
  }

  tail(lines = 40): string {
    const t = this.tails.at(-1);
    return t ? cleanConsoleText(t.tail(lines)) : '';
  }

  /** Console text of boots `from`..current, cleaned. */
  text(fromBoot = 1): string {
    return this.tails
      .slice(Math.max(0, fromBoot - 1))
      .map((t) => cleanConsoleText(t.captured))
      .join('\n');
  }

  waitFor(re: RegExp, opts: { timeoutMs: number; sinceBoot?: number; signal?: AbortSignal }): Promise<RegExpMatchArray> {
    const failure = this.o.abort.signal;
    const name = this.o.machineName;
    const sinceBoot = opts.sinceBoot ?? Math.max(1, this.bootCount);
    const pattern = new RegExp(re.source, re.flags.replace(/[gy]/g, ''));
    return new Promise((resolve, reject) => {
      let done = false;
      const cleanup = (): void => {
        done = true;
        clearTimeout(timer);
        this.waiters.delete(check);
        failure.removeEventListener('abort', onFailure);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const describe = (): string => `${re} on the console of machine ${name}`;
      const check = (): void => {
        if (done) return;
        const m = pattern.exec(this.text(sinceBoot));
        if (m) {
          cleanup();
          resolve(m);
          return;
        }
        if (this.o.isOff()) {
          cleanup();
          reject(new InfraError(`machine ${name} is powered off; still waiting for ${describe()}. Last console lines:\n${this.tail(15)}`, 'machine-died'));
        }
      };
      const onFailure = (): void => {
        cleanup();
        reject(failure.reason instanceof Error ? failure.reason : new Error(String(failure.reason)));
      };
      const onAbort = (): void => {
        cleanup();
        reject(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error(`wait for ${describe()} was aborted`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new InfraError(`timed out after ${opts.timeoutMs} ms waiting for ${describe()}. Last console lines:\n${this.tail(15)}`, 'timeout'));
      }, opts.timeoutMs);
      if (failure.aborted) return onFailure();
      if (opts.signal?.aborted) return onAbort();
      failure.addEventListener('abort', onFailure, { once: true });
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(check);
      // Fresh read first, so text already in the file counts even if the poller has not run yet.
      void (this.current && this.o.isRunning() ? this.current.readMore() : Promise.resolve()).then(check, check);
    });
  }
}
