import { errorMessage } from '../../core/errors.js';
import { abortable, pollUntil, sleep, WaitTimeoutError } from '../../core/wait.js';
import { ConnectionLostError } from './errors.js';
import type { ExecResult, GuestSession } from './session.js';
import { BOOT_ID_COMMAND, forSystemdSettled, readBootId, stateOf } from './wait-strategies.js';

/** How a reboot ended. The caller judges the deployment the guest came back on (from HostState). */
export type RebootVerdict = 'ok' | 'did-not-go-down' | 'did-not-come-back' | 'came-back-degraded' | 'did-not-settle';

export interface RebootTimeouts {
  /** After the trigger finished, how long the old boot may keep answering. */
  goDownMs: number;
  /** After the guest went down, how long until an SSH session reports a new boot id. */
  comeBackMs: number;
  /** After SSH is back, how long systemd may stay `starting`/`initializing`. */
  settleMs: number;
}

/** Guest commands used to observe the reboot; tests point them at files/scripts on a host sshd. */
export interface RebootCommands {
  bootId: string;
  systemState: string;
  failedUnits: string;
}

const defaultRebootCommands: RebootCommands = {
  bootId: BOOT_ID_COMMAND,
  systemState: 'systemctl is-system-running',
  failedUnits: 'systemctl --failed --plain --no-legend',
};

export interface RebootOptions {
  session: GuestSession;
  /** Open a new session; must keep trying until the absolute deadline (connectGuest does). */
  reconnect: (deadlineMs: number) => Promise<GuestSession>;
  /** What reboots the guest. Default `sudo systemctl reboot`. A guest-initiated reboot passes the step's own command. */
  trigger?: (session: GuestSession) => Promise<unknown>;
  timeouts: RebootTimeouts;
  /** The machine's failureSignal: a dead guest aborts the wait with the signal's reason. */
  signal?: AbortSignal;
  consoleTail?: () => string;
  commands?: Partial<RebootCommands>;
  /** How often the old session is probed for its boot id while waiting for it to go down (default 500 ms). */
  pollIntervalMs?: number;
  log?: (line: string) => void;
}

export interface RebootPhases {
  /** Trigger start → the old boot stopped answering. */
  downMs: number | null;
  /** Trigger start → an SSH session reported the new boot id. */
  upMs: number | null;
  /** New boot id seen → systemd settled. */
  settleMs: number | null;
  totalMs: number;
}

export interface RebootResult {
  verdict: RebootVerdict;
  /** One readable sentence (plus console tail where it helps) for the step log and report. */
  message: string;
  oldBootId: string;
  newBootId: string | null;
  systemState: string | null;
  failedUnits: string[];
  phases: RebootPhases;
  /** Epoch ms of each transition, for the timeline. */
  timestamps: { triggeredAt: number; downAt: number | null; upAt: number | null; settledAt: number | null };
  /** The trigger failed with something other than the expected connection drop. */
  triggerError: string | null;
  consoleTail: string | null;
  /** The session on the new boot (null when the guest did not come back). The caller owns it. */
  session: GuestSession | null;
}

/** How long a probe of the old boot may go unanswered before the boot counts as gone. */
const PROBE_NO_ANSWER_MS = 3000;
/** Reading the boot id on a fresh session. */
const BOOT_ID_READ_MS = 5000;
const LAST_READ_GRACE_MS = BOOT_ID_READ_MS + 1000;

/** `systemctl --failed --plain --no-legend` → unit names (first column). */
export function parseFailedUnits(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().replace(/^[●*]\s*/, ''))
    .filter((line) => line.length > 0)
    .map((line) => line.split(/\s+/)[0] ?? line);
}

/** The trigger runs in the background: the connection dropping under it is what a reboot looks like. */
function runTrigger(session: GuestSession, trigger: (s: GuestSession) => Promise<unknown>): { done: Promise<void>; error: () => string | null } {
  let error: string | null = null;
  const done = trigger(session).then(
    () => undefined,
    (e: unknown) => {
      if (!(e instanceof ConnectionLostError)) error = errorMessage(e);
    },
  );
  return { done, error: () => error };
}

type OldBootProbe = 'up' | 'gone' | 'new-id';

/** One look at the old boot over its own session: still answering with its id, gone, or (through a proxy) a new id. */
async function probeOldBoot(session: GuestSession, command: string, oldBootId: string, signal: AbortSignal): Promise<OldBootProbe> {
  if (!session.isOpen) return 'gone';
  const answer = await Promise.race([
    session.exec(command, { timeoutMs: PROBE_NO_ANSWER_MS, signal }).then(
      (r) => (r.exitCode === 0 ? r.stdout.trim() : null),
      () => null,
    ),
    sleep(PROBE_NO_ANSWER_MS, signal).then(() => null),
    session.closed.then(() => null),
  ]);
  if (answer === null) return 'gone';
  return answer === oldBootId ? 'up' : 'new-id';
}

/**
 * Phase "down": from the trigger's end (or the connection dropping under it) the old boot has
 * goDownMs to stop answering. null: it did not.
 */
async function waitGoneDown(o: {
  session: GuestSession;
  command: string;
  oldBootId: string;
  triggerDone: Promise<void>;
  goDownMs: number;
  intervalMs: number;
  signal?: AbortSignal;
}): Promise<{ at: number; probe: OldBootProbe } | null> {
  await abortable(Promise.race([o.triggerDone, o.session.closed]), o.signal);
  // The connection dropping ends the wait at once rather than at the next poll.
  const dropped = new AbortController();
  void o.session.closed.then(() => dropped.abort(new Error('session closed')));
  const signal = o.signal ? AbortSignal.any([o.signal, dropped.signal]) : dropped.signal;
  try {
    const probe = await pollUntil((s) => probeOldBoot(o.session, o.command, o.oldBootId, s).catch(() => 'gone' as const), {
      timeoutMs: o.goDownMs,
      intervalMs: o.intervalMs,
      signal,
      until: (p) => p !== 'up',
      describe: () => `boot ${o.oldBootId} to stop answering`,
    });
    return { at: Date.now(), probe };
  } catch (e) {
    if (o.signal?.aborted) throw e;
    if (dropped.signal.aborted) return { at: Date.now(), probe: 'gone' };
    if (e instanceof WaitTimeoutError) return null;
    throw e;
  }
}

type ComeBack = { kind: 'new-boot'; session: GuestSession; bootId: string } | { kind: 'old-boot' } | { kind: 'unreachable'; error: string };

/**
 * Phase "up": sessions until one reports a new boot id. A session that still reaches the old boot
 * (shutdown not finished) is closed and another is opened. `reconnect` retries until the deadline
 * itself, so its failure ends the phase.
 */
async function waitNewBoot(o: {
  reconnect: (deadlineMs: number) => Promise<GuestSession>;
  command: string;
  oldBootId: string;
  comeBackMs: number;
  signal?: AbortSignal;
}): Promise<{ session: GuestSession; bootId: string } | { error: string }> {
  const deadline = Date.now() + o.comeBackMs;
  const stillOld = `sshd answered but still on the old boot ${o.oldBootId} (shutdown not finished)`;
  let sawOldBoot = false;
  const attempt = async (signal: AbortSignal): Promise<ComeBack> => {
    if (sawOldBoot && Date.now() >= deadline) return { kind: 'unreachable', error: stillOld };
    let candidate: GuestSession;
    try {
      candidate = await abortable(o.reconnect(deadline), signal);
    } catch (e) {
      if (signal.aborted) throw e; // Ctrl-C, a dead machine, or the deadline: pollUntil says which
      return { kind: 'unreachable', error: errorMessage(e) };
    }
    try {
      const bootId = await readBootId(candidate, o.command, BOOT_ID_READ_MS, signal);
      if (bootId !== o.oldBootId) return { kind: 'new-boot', session: candidate, bootId };
    } catch (e) {
      await candidate.close();
      throw e;
    }
    await candidate.close();
    sawOldBoot = true;
    return { kind: 'old-boot' };
  };
  try {
    // reconnect keeps its own deadline and says why it gave up (ECONNREFUSED…); the poll's own
    // limit only has to cover the last boot id read after it.
    const r = await pollUntil(attempt, {
      timeoutMs: o.comeBackMs + LAST_READ_GRACE_MS,
      intervalMs: 200,
      ...(o.signal ? { signal: o.signal } : {}),
      until: (c) => c.kind !== 'old-boot',
      describe: (c, err) =>
        `a session on a new boot; last error: ${err !== undefined ? errorMessage(err) : c?.kind === 'old-boot' ? stillOld : 'no attempt yet'}`,
    });
    if (r.kind === 'new-boot') return { session: r.session, bootId: r.bootId };
    return { error: r.kind === 'unreachable' ? r.error : 'no session' };
  } catch (e) {
    if (e instanceof WaitTimeoutError) return { error: e.message };
    throw e;
  }
}

/** Phase "settle": systemd leaves initializing/starting. */
async function waitSettled(
  session: GuestSession,
  command: string,
  settleMs: number,
  signal?: AbortSignal,
): Promise<{ settled: true; state: string | null } | { settled: false; message: string; lastState: string | null }> {
  try {
    const state = await forSystemdSettled({ command }).waitUntilReady({ session, ...(signal ? { signal } : {}) }, settleMs);
    return { settled: true, state };
  } catch (e) {
    if (!(e instanceof WaitTimeoutError)) throw e;
    const last: unknown = e.lastValue;
    return { settled: false, message: e.message, lastState: isExecResult(last) ? (stateOf(last) ?? null) : null };
  }
}

function isExecResult(v: unknown): v is ExecResult {
  return typeof v === 'object' && v !== null && 'exitCode' in v && 'stdout' in v;
}

/** The failed units of a degraded boot, or a note why they could not be listed. */
async function failedUnitsOf(session: GuestSession, command: string, signal?: AbortSignal): Promise<string[]> {
  try {
    const r = await session.exec(command, { timeoutMs: 10_000, ...(signal ? { signal } : {}) });
    return parseFailedUnits(r.stdout);
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    return [`(could not list failed units: ${errorMessage(e)})`];
  }
}

/**
 * Reboot the guest and tell apart the ways that can go wrong. The reboot is recognised by a new
 * boot_id, never by the port (slirp accepts TCP while the guest is down). Reconnection overlaps
 * attempts (connectGuest), so a new boot is noticed well under a second after sshd accepts.
 * Phases: trigger → down (old boot stops answering) → up (a session on a new boot) → settle
 * (systemd done) → failed units when degraded.
 */
export async function rebootGuest(opts: RebootOptions): Promise<RebootResult> {
  const cmds: RebootCommands = { ...defaultRebootCommands, ...opts.commands };
  const { signal } = opts;
  const log = opts.log ?? ((): void => {});
  const oldSession = opts.session;

  const oldBootId = await abortable(readBootId(oldSession, cmds.bootId, 10_000, signal), signal);
  const triggeredAt = Date.now();
  const trigger = runTrigger(oldSession, opts.trigger ?? ((s: GuestSession) => s.exec('systemctl reboot', { sudo: true, timeoutMs: 30_000 })));
  const result = (
    verdict: RebootVerdict,
    message: string,
    rest: Partial<Pick<RebootResult, 'newBootId' | 'systemState' | 'failedUnits' | 'consoleTail' | 'session'>> & { downAt?: number | null; upAt?: number | null; settledAt?: number | null },
  ): RebootResult => {
    const downAt = rest.downAt ?? null;
    const upAt = rest.upAt ?? null;
    const settledAt = rest.settledAt ?? null;
    log(`reboot: ${verdict} (${message.split('\n')[0]})`);
    return {
      verdict,
      message,
      oldBootId,
      newBootId: rest.newBootId ?? null,
      systemState: rest.systemState ?? null,
      failedUnits: rest.failedUnits ?? [],
      phases: {
        downMs: downAt === null ? null : downAt - triggeredAt,
        upMs: upAt === null ? null : upAt - triggeredAt,
        settleMs: upAt === null || settledAt === null ? null : settledAt - upAt,
        totalMs: Date.now() - triggeredAt,
      },
      timestamps: { triggeredAt, downAt, upAt, settledAt },
      triggerError: trigger.error(),
      consoleTail: rest.consoleTail ?? null,
      session: rest.session ?? null,
    };
  };

  const down = await waitGoneDown({
    session: oldSession,
    command: cmds.bootId,
    oldBootId,
    triggerDone: trigger.done,
    goDownMs: opts.timeouts.goDownMs,
    intervalMs: opts.pollIntervalMs ?? 500,
    ...(signal ? { signal } : {}),
  });
  if (!down) {
    const why = trigger.error() ? `; the trigger failed: ${trigger.error()}` : '';
    return result(
      'did-not-go-down',
      `the guest did not go down within ${opts.timeouts.goDownMs} ms after the reboot trigger finished: boot id ${oldBootId} still answers${why}`,
      { session: oldSession },
    );
  }
  void oldSession.close().catch(() => {});
  // A new id over the old connection cannot happen over one TCP connection, but a proxy could: count it as down and up.
  log(`reboot: boot ${oldBootId} went down after ${down.at - triggeredAt} ms${down.probe === 'new-id' ? ' (new boot id seen on old session)' : ''}`);

  const up = await waitNewBoot({ reconnect: opts.reconnect, command: cmds.bootId, oldBootId, comeBackMs: opts.timeouts.comeBackMs, ...(signal ? { signal } : {}) });
  if ('error' in up) {
    const tail = opts.consoleTail?.() ?? null;
    return result(
      'did-not-come-back',
      `the guest went down but no SSH session reported a new boot id ${Date.now() - down.at < opts.timeouts.comeBackMs ? `(gave up after ${Date.now() - down.at} ms)` : `within ${opts.timeouts.comeBackMs} ms`}; last error: ${up.error}` +
        (tail ? `\nconsole tail:\n${tail}` : ''),
      { downAt: down.at, consoleTail: tail },
    );
  }
  const upAt = Date.now();
  const { session, bootId: newBootId } = up;
  log(`reboot: new boot ${newBootId} answered ${upAt - triggeredAt} ms after the trigger`);

  const settled = await waitSettled(session, cmds.systemState, opts.timeouts.settleMs, signal);
  const common = { newBootId, downAt: down.at, upAt, session };
  if (!settled.settled) {
    return result('did-not-settle', `the guest came back (boot ${newBootId}) but ${settled.message}`, { ...common, systemState: settled.lastState });
  }
  const settledAt = Date.now();
  const systemState = settled.state;
  if (systemState !== null && systemState !== 'running') {
    const failedUnits = await failedUnitsOf(session, cmds.failedUnits, signal);
    const units = failedUnits.length ? `; failed units: ${failedUnits.join(', ')}` : '';
    return result('came-back-degraded', `the guest came back (boot ${newBootId}) but systemd reports ${systemState}${units}`, { ...common, systemState, settledAt, failedUnits });
  }
  return result('ok', `rebooted into boot ${newBootId} (${systemState ?? 'no systemctl'})`, { ...common, systemState, settledAt });
}
