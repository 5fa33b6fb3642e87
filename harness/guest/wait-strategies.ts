/**
 * Composable waits on a guest, in the spirit of testcontainers' wait strategies: each says what it
 * waits for, polls with core/wait.ts's pollUntil, and times out with what it saw last. They are
 * combined with all(...) and used by the reboot phases (reboot.ts) and the steps that wait.
 */
import { pollUntil, lastErrorText } from '../../core/wait.js';
import { InfraError } from '../../core/errors.js';
import type { ExecResult, GuestSession } from './session.js';

/** What a strategy may look at: an open session, the machine's console, and the abort signal. */
export interface WaitTarget {
  session?: GuestSession;
  console?: { waitForConsole(re: RegExp, opts: { timeoutMs: number; sinceBoot?: number; signal?: AbortSignal }): Promise<RegExpMatchArray> };
  /** A dead machine or Ctrl-C: every wait ends at once with its reason. */
  signal?: AbortSignal;
}

export interface WaitStrategy<T> {
  /** "boot id other than b1", for messages. */
  readonly description: string;
  waitUntilReady(target: WaitTarget, timeoutMs: number): Promise<T>;
}

/** systemd states in which the boot is still going on. */
const ACTIVE_SYSTEMD_STATES: ReadonlySet<string> = new Set(['initializing', 'starting']);
/** A shell's "command not found". */
const NOT_FOUND = 127;

function needSession(target: WaitTarget, what: string): GuestSession {
  if (!target.session) throw new InfraError(`waiting for ${what} needs an SSH session to the guest`, 'ssh');
  return target.session;
}

/** Commands run by a poll get at most this long each, and never more than what is left. */
function commandTimeout(perCommandMs: number, timeoutMs: number): number {
  return Math.max(1000, Math.min(perCommandMs, timeoutMs));
}

function describeExec(r: ExecResult | undefined, err: unknown): string {
  if (r) {
    const out = (r.stderr.trim() || r.stdout.trim()).split('\n').pop() ?? '';
    return `exit ${r.exitCode === null ? (r.timedOut ? 'none (timed out)' : `signal ${r.signal ?? '?'}`) : r.exitCode}${out ? `, ${JSON.stringify(out.slice(0, 200))}` : ''}`;
  }
  return lastErrorText(err) || 'no answer yet';
}

/** The console shows `re` (on boot `sinceBoot` or later). */
export function forConsole(re: RegExp, opts: { sinceBoot?: number } = {}): WaitStrategy<RegExpMatchArray> {
  const description = `${re} on the console`;
  return {
    description,
    waitUntilReady: (target, timeoutMs) => {
      if (!target.console) throw new InfraError(`waiting for ${description} needs the machine's console`, 'other');
      return target.console.waitForConsole(re, { timeoutMs, ...(opts.sinceBoot !== undefined ? { sinceBoot: opts.sinceBoot } : {}), ...(target.signal ? { signal: target.signal } : {}) });
    },
  };
}

export interface CommandWaitOptions {
  /** The exit code waited for (default 0). */
  exit?: number;
  intervalMs?: number;
  sudo?: boolean;
  /** Each run of the command gets at most this long (default 10 s). */
  commandTimeoutMs?: number;
}

/** `command` (a guest shell line) exits with `exit`. Resolves with that run's result. */
export function forCommand(command: string, opts: CommandWaitOptions = {}): WaitStrategy<ExecResult> {
  const exit = opts.exit ?? 0;
  const description = `\`${command}\` to exit ${exit}`;
  return {
    description,
    waitUntilReady: (target, timeoutMs) => {
      const session = needSession(target, description);
      return pollUntil((signal) => session.exec(command, { timeoutMs: commandTimeout(opts.commandTimeoutMs ?? 10_000, timeoutMs), signal, ...(opts.sudo ? { sudo: true } : {}) }), {
        timeoutMs,
        intervalMs: opts.intervalMs ?? 1000,
        ...(target.signal ? { signal: target.signal } : {}),
        until: (r) => r.exitCode === exit,
        describe: (r, err) => `${description} (last: ${describeExec(r, err)})`,
      });
    },
  };
}

/** Read the boot id with `command`; throws when it does not print one. */
export async function readBootId(session: GuestSession, command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const r = await session.exec(command, { timeoutMs, ...(signal ? { signal } : {}) });
  const id = r.stdout.trim();
  if (r.exitCode !== 0 || !id) {
    throw new InfraError(`could not read the boot id with \`${command}\`: exit ${String(r.exitCode)}, ${r.stderr.trim() || 'no output'}`, 'ssh');
  }
  return id;
}

export const BOOT_ID_COMMAND = 'cat /proc/sys/kernel/random/boot_id';

/** The session reports a boot id other than `oldId`. Resolves with the new id. */
export function forNewBootId(oldId: string, opts: { command?: string; intervalMs?: number } = {}): WaitStrategy<string> {
  const command = opts.command ?? BOOT_ID_COMMAND;
  const description = `a boot id other than ${oldId}`;
  return {
    description,
    waitUntilReady: (target, timeoutMs) => {
      const session = needSession(target, description);
      return pollUntil((signal) => readBootId(session, command, commandTimeout(5000, timeoutMs), signal), {
        timeoutMs,
        intervalMs: opts.intervalMs ?? 500,
        ...(target.signal ? { signal: target.signal } : {}),
        until: (id) => id !== oldId,
        describe: (id, err) => `${description} (last: ${id !== undefined && err === undefined ? `still ${id}` : lastErrorText(err) || 'no answer'})`,
      });
    },
  };
}

/** The state `systemctl is-system-running` printed: null when the guest has no systemctl, undefined when it printed none. */
export function stateOf(r: ExecResult): string | null | undefined {
  return r.exitCode === NOT_FOUND ? null : r.stdout.trim().split('\n').pop()?.trim() || undefined;
}

/**
 * systemd finished booting: `systemctl is-system-running` is past initializing/starting.
 * Resolves with the state (running, degraded…), or null when the guest has no systemctl.
 */
export function forSystemdSettled(opts: { command?: string; intervalMs?: number } = {}): WaitStrategy<string | null> {
  const command = opts.command ?? 'systemctl is-system-running';
  const description = 'systemd to settle';
  return {
    description,
    waitUntilReady: async (target, timeoutMs) => {
      const session = needSession(target, description);
      const r = await pollUntil((signal) => session.exec(command, { timeoutMs: commandTimeout(10_000, timeoutMs), signal }), {
        timeoutMs,
        intervalMs: opts.intervalMs ?? 250,
        ...(target.signal ? { signal: target.signal } : {}),
        until: (res) => {
          const state = stateOf(res);
          return state === null || (state !== undefined && !ACTIVE_SYSTEMD_STATES.has(state));
        },
        describe: (res, err) => `${description} (${res && err === undefined ? `still ${stateOf(res) ?? 'no state printed'}` : `last error: ${lastErrorText(err) || 'no answer'}`})`,
      });
      return stateOf(r) ?? null;
    },
  };
}

type Results<S extends readonly WaitStrategy<unknown>[]> = { -readonly [K in keyof S]: S[K] extends WaitStrategy<infer R> ? R : never };

/** Every strategy, concurrently, within the same timeout; the first to fail ends the wait. */
export function all<const S extends readonly WaitStrategy<unknown>[]>(...strategies: S): WaitStrategy<Results<S>> {
  return {
    description: strategies.map((s) => s.description).join(' and '),
    waitUntilReady: async (target, timeoutMs) => {
      const results = await Promise.all(strategies.map((s) => s.waitUntilReady(target, timeoutMs)));
      // Promise.all over a mapped tuple types its result as an array; the order is the tuple's.
      return results as Results<S>;
    },
  };
}
