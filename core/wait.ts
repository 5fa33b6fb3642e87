/**
 * Waiting, once: an abortable sleep, a race against an abort signal, and a polling loop with a
 * deadline whose timeout says what it waited for and what it saw last. Every wait in bootpath
 * (a guest going down, coming back, settling; a `wait:` step) is built on these, so a timeout
 * never reads "timed out" alone and an abort (Ctrl-C, a dead machine) ends every wait at once.
 */
import { InfraError, errorMessage } from './errors.js';

/** The reason of an aborted signal, as an Error (a bare `abort()` gives a DOMException). */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}

/** Resolves after `ms`; rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Race a promise against the signal: rejects with its reason when it aborts first. */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined); // the loser's rejection is not ours to report
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A poll that reached its deadline. `message` already says what was awaited and what was seen last. */
export class WaitTimeoutError<T = unknown> extends InfraError {
  constructor(
    message: string,
    readonly lastValue: T | undefined,
    readonly lastError: unknown,
    readonly attempts: number,
  ) {
    super(message, 'timeout');
    this.name = 'WaitTimeoutError';
  }
}

export interface PollOptions<T> {
  timeoutMs: number;
  /** Pause between two checks (from the end of one to the start of the next). */
  intervalMs: number;
  /** Aborting ends the wait at once with the signal's reason (never as a timeout). */
  signal?: AbortSignal;
  /** When a checked value is what was waited for. */
  until: (value: T) => boolean;
  /**
   * What was awaited and what was seen last, for the timeout message: "systemd to settle (last:
   * starting)". `lastValue` is undefined when no check returned; `lastError` is the last check's
   * error, undefined when the last check returned.
   */
  describe: (lastValue: T | undefined, lastError: unknown) => string;
  /** An error that ends the wait at once instead of counting as "not yet" (default: none does). */
  isFatal?: (err: unknown) => boolean;
}

/**
 * Check until `until` accepts a value, the deadline passes (WaitTimeoutError) or the signal aborts.
 * A check gets a signal that aborts at the deadline too, so one hanging check cannot outlive it.
 * The first check runs at once, even with timeoutMs 0.
 */
export async function pollUntil<T>(check: (signal: AbortSignal) => Promise<T>, opts: PollOptions<T>): Promise<T> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const expired = new AbortController();
  const timer = setTimeout(() => expired.abort(new Error('deadline')), Math.max(0, opts.timeoutMs));
  const checkSignal = opts.signal ? AbortSignal.any([opts.signal, expired.signal]) : expired.signal;
  let lastValue: T | undefined;
  let lastError: unknown;
  let attempts = 0;
  try {
    for (;;) {
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      attempts++;
      try {
        const value = await abortable(check(checkSignal), checkSignal);
        lastValue = value;
        lastError = undefined;
        if (opts.until(value)) return value;
      } catch (err) {
        if (opts.signal?.aborted) throw abortReason(opts.signal);
        if (expired.signal.aborted) break;
        if (opts.isFatal?.(err)) throw err;
        lastError = err;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        await sleep(Math.min(opts.intervalMs, left), checkSignal);
      } catch {
        if (opts.signal?.aborted) throw abortReason(opts.signal);
        break;
      }
    }
  } finally {
    clearTimeout(timer);
  }
  const waited = ((Date.now() - started) / 1000).toFixed(1);
  const message = `timed out after ${waited} s (${attempts} checks) waiting for ${opts.describe(lastValue, lastError)}`;
  throw new WaitTimeoutError<T>(message, lastValue, lastError, attempts);
}

/** `lastError` as text for describe(): '' when there is none. */
export function lastErrorText(err: unknown): string {
  return err === undefined ? '' : errorMessage(err);
}
