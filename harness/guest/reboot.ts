import { errorMessage, InfraError } from '../../core/errors.js';
import { ConnectionLostError } from './errors.js';
import type { GuestSession } from './session.js';

/**
 * How a reboot ended. `came-back-unexpected` is only produced when the caller's expectDeployment
 * hook reports a problem (the caller judges deployments from HostState).
 */
export type RebootVerdict =
  | 'ok'
  | 'did-not-go-down'
  | 'did-not-come-back'
  | 'came-back-degraded'
  | 'did-not-settle'
  | 'came-back-unexpected';

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

export const defaultRebootCommands: RebootCommands = {
  bootId: 'cat /proc/sys/kernel/random/boot_id',
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
  /** Judges the deployment the guest came back on; a returned string is the problem (verdict came-back-unexpected). */
  expectDeployment?: (session: GuestSession) => Promise<string | null>;
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
  /** The expectDeployment hook's complaint. */
  unexpected: string | null;
  consoleTail: string | null;
  /** The session on the new boot (null when the guest did not come back). The caller owns it. */
  session: GuestSession | null;
}

const ACTIVE_STATES = new Set(['initializing', 'starting']);
const PROBE_NO_ANSWER_MS = 3000;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Race a promise against the abort signal (the machine dying ends every wait at once). */
function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
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

/** `systemctl --failed --plain --no-legend` → unit names (first column). */
export function parseFailedUnits(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().replace(/^[●*]\s*/, ''))
    .filter((line) => line.length > 0)
    .map((line) => line.split(/\s+/)[0] ?? line);
}

async function readBootId(session: GuestSession, command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const r = await session.exec(command, { timeoutMs, signal });
  const id = r.stdout.trim();
  if (r.exitCode !== 0 || !id) {
    throw new InfraError(`could not read the boot id with \`${command}\`: exit ${String(r.exitCode)}, ${r.stderr.trim() || 'no output'}`, 'ssh');
  }
  return id;
}

/**
 * Reboot the guest and tell apart the ways that can go wrong. The reboot is recognised by a new
 * boot_id, never by the port (slirp accepts TCP while the guest is down). Reconnection overlaps
 * attempts (connectGuest), so a new boot is noticed well under a second after sshd accepts.
 */
export async function rebootGuest(opts: RebootOptions): Promise<RebootResult> {
  const cmds: RebootCommands = { ...defaultRebootCommands, ...opts.commands };
  const { signal } = opts;
  const log = opts.log ?? ((): void => {});
  const pollInterval = opts.pollIntervalMs ?? 500;
  const oldSession = opts.session;

  const oldBootId = await abortable(readBootId(oldSession, cmds.bootId, 10_000, signal), signal);
  const triggeredAt = Date.now();
  const base = {
    oldBootId,
    triggerError: null as string | null,
    unexpected: null as string | null,
    consoleTail: null as string | null,
  };
  const result = (
    verdict: RebootVerdict,
    message: string,
    rest: Partial<Omit<RebootResult, 'verdict' | 'message'>> & { downAt?: number | null; upAt?: number | null; settledAt?: number | null },
  ): RebootResult => {
    const downAt = rest.downAt ?? null;
    const upAt = rest.upAt ?? null;
    const settledAt = rest.settledAt ?? null;
    const r: RebootResult = {
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
      triggerError: base.triggerError,
      unexpected: rest.unexpected ?? null,
      consoleTail: rest.consoleTail ?? null,
      session: rest.session ?? null,
    };
    log(`reboot: ${verdict} (${message.split('\n')[0]})`);
    return r;
  };

  // --- trigger ---------------------------------------------------------------------------------
  const trigger = opts.trigger ?? ((s: GuestSession) => s.exec('systemctl reboot', { sudo: true, timeoutMs: 30_000 }));
  let triggerDoneAt: number | null = null;
  const triggerDone = (async (): Promise<void> => {
    try {
      await trigger(oldSession);
    } catch (e) {
      // The connection dropping under the trigger is what a reboot looks like.
      if (!(e instanceof ConnectionLostError)) base.triggerError = errorMessage(e);
    } finally {
      triggerDoneAt = Date.now();
    }
  })();
  void triggerDone;

  // --- wait for the old boot to stop answering ---------------------------------------------------
  let droppedReason: string | null = null;
  void oldSession.closed.then((why) => {
    droppedReason = why ? why.message : 'session closed';
  });
  let downAt: number | null = null;
  let sawNewIdOnOld = false;
  while (downAt === null) {
    if (droppedReason !== null || !oldSession.isOpen) {
      downAt = Date.now();
      break;
    }
    if (triggerDoneAt !== null && Date.now() - triggerDoneAt > opts.timeouts.goDownMs) break;
    const probe = await abortable(
      Promise.race([
        oldSession.exec(cmds.bootId, { timeoutMs: PROBE_NO_ANSWER_MS, signal }).then(
          (r) => (r.exitCode === 0 ? r.stdout.trim() : 'error'),
          () => 'error',
        ),
        sleep(PROBE_NO_ANSWER_MS).then(() => 'no-answer'),
        oldSession.closed.then(() => 'error'),
      ]),
      signal,
    );
    if (probe === 'error' || probe === 'no-answer') {
      downAt = Date.now();
      break;
    }
    if (probe !== oldBootId) {
      sawNewIdOnOld = true; // cannot happen over one TCP connection, but a proxy could; count it as down and up
      downAt = Date.now();
      break;
    }
    // Wake up as soon as the connection drops rather than at the next poll.
    await abortable(Promise.race([sleep(pollInterval), oldSession.closed.then(() => undefined)]), signal);
  }
  if (downAt === null) {
    const why = base.triggerError ? `; the trigger failed: ${base.triggerError}` : '';
    return result(
      'did-not-go-down',
      `the guest did not go down within ${opts.timeouts.goDownMs} ms after the reboot trigger finished: boot id ${oldBootId} still answers${why}`,
      { session: oldSession },
    );
  }
  void oldSession.close().catch(() => {});
  log(`reboot: boot ${oldBootId} went down after ${downAt - triggeredAt} ms${sawNewIdOnOld ? ' (new boot id seen on old session)' : ''}`);

  // --- wait for a session on a new boot ---------------------------------------------------------
  const comeBackDeadline = downAt + opts.timeouts.comeBackMs;
  let session: GuestSession | null = null;
  let newBootId: string | null = null;
  let lastError = 'no attempt yet';
  while (Date.now() < comeBackDeadline) {
    let candidate: GuestSession;
    try {
      candidate = await abortable(opts.reconnect(comeBackDeadline), signal);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      lastError = errorMessage(e);
      break; // reconnect already retried until the deadline
    }
    try {
      const id = await abortable(readBootId(candidate, cmds.bootId, 5000, signal), signal);
      if (id !== oldBootId) {
        session = candidate;
        newBootId = id;
        break;
      }
      lastError = `sshd answered but still on the old boot ${oldBootId} (shutdown not finished)`;
    } catch (e) {
      if (signal?.aborted) {
        await candidate.close();
        throw signal.reason;
      }
      lastError = errorMessage(e);
    }
    await candidate.close();
    await sleep(200, signal);
  }
  if (!session || !newBootId) {
    const tail = opts.consoleTail?.() ?? null;
    return result(
      'did-not-come-back',
      `the guest went down but no SSH session reported a new boot id within ${opts.timeouts.comeBackMs} ms; last error: ${lastError}` +
        (tail ? `\nconsole tail:\n${tail}` : ''),
      { downAt, consoleTail: tail },
    );
  }
  const upAt = Date.now();
  log(`reboot: new boot ${newBootId} answered ${upAt - triggeredAt} ms after the trigger`);

  // --- wait for systemd to settle ----------------------------------------------------------------
  const settleDeadline = upAt + opts.timeouts.settleMs;
  let systemState: string | null = null;
  let settledAt: number | null = null;
  let settleProblem: string | null = null;
  for (;;) {
    try {
      const remaining = Math.max(1000, settleDeadline - Date.now());
      const r = await session.exec(cmds.systemState, { timeoutMs: Math.min(10_000, remaining), signal });
      if (r.exitCode === 127) {
        systemState = null; // no systemctl: nothing to wait for
        settledAt = Date.now();
        break;
      }
      systemState = r.stdout.trim().split('\n').pop()?.trim() || null;
      if (systemState !== null && !ACTIVE_STATES.has(systemState)) {
        settledAt = Date.now();
        break;
      }
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      settleProblem = errorMessage(e);
    }
    if (Date.now() >= settleDeadline) break;
    await sleep(250, signal);
  }
  const common = { newBootId, systemState, downAt, upAt, settledAt, session };
  if (settledAt === null) {
    return result(
      'did-not-settle',
      `the guest came back (boot ${newBootId}) but systemd was still ${systemState ?? 'not answering'} after ${opts.timeouts.settleMs} ms` +
        (settleProblem ? `; last error: ${settleProblem}` : ''),
      common,
    );
  }

  let failedUnits: string[] = [];
  if (systemState !== null && systemState !== 'running') {
    try {
      const r = await session.exec(cmds.failedUnits, { timeoutMs: 10_000, signal });
      failedUnits = parseFailedUnits(r.stdout);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      failedUnits = [`(could not list failed units: ${errorMessage(e)})`];
    }
  }

  if (opts.expectDeployment) {
    const problem = await abortable(opts.expectDeployment(session), signal);
    if (problem) {
      return result('came-back-unexpected', `the guest came back on an unexpected deployment: ${problem}`, {
        ...common,
        failedUnits,
        unexpected: problem,
      });
    }
  }
  if (systemState !== null && systemState !== 'running') {
    const units = failedUnits.length ? `; failed units: ${failedUnits.join(', ')}` : '';
    return result('came-back-degraded', `the guest came back (boot ${newBootId}) but systemd reports ${systemState}${units}`, {
      ...common,
      failedUnits,
    });
  }
  return result('ok', `rebooted into boot ${newBootId} (${systemState ?? 'no systemctl'})`, { ...common, failedUnits });
}
