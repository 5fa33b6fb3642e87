import { promises as fs } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Client, type ServerHostKeyAlgorithm } from 'ssh2';
import type { SshEndpoint } from '../../vm/machine.js';
import { InfraError, errorMessage } from '../../core/errors.js';
import { HostKeyMismatchError, SshAuthRejectedError, SshConnectTimeoutError } from './errors.js';
import { fingerprintOf, parsePublicKeyLine, type PinnedHostKey } from './host-key.js';
import { SshGuestSession, type GuestSession } from './session.js';

export interface ConnectOptions {
  /** Where to connect now. Asked again for every attempt: the port may change after a reboot. null: not yet known. */
  endpoint: () => SshEndpoint | null;
  user: string;
  privateKeyPath: string;
  /** The guest's pinned host key, `ssh-ed25519 AAAA… [comment]`. */
  hostPublicKey: string;
  /** Absolute time (Date.now() scale) at which to give up. */
  deadlineMs: number;
  /** Aborted when the machine died: connectGuest rejects at once with the signal's reason. */
  signal?: AbortSignal;
  /** Every failed attempt, for debugging (most are expected while the guest boots). */
  onAttemptError?: (e: Error) => void;
  /** Start a new attempt this often while earlier ones may still hang (default 150 ms: with a ~100 ms handshake, sshd is noticed within 300 ms). */
  attemptIntervalMs?: number;
  /** After a refused connection (nothing listening: QEMU restarting, sshd not up), retry this soon instead (default 50 ms; refusals are cheap). */
  refusedRetryMs?: number;
  /** At most this many attempts that have not yet heard from the server (default 8); at the cap no new one starts until one ends. */
  maxSilentAttempts?: number;
  /** Drop an attempt whose server has sent nothing for this long (default 2500 ms): slirp accepts while the guest is down. */
  bannerTimeoutMs?: number;
  /** A silent attempt is superseded at the cap only after this long (default 1000 ms; scale it for slow guests). */
  minSilentAgeMs?: number;
  /** ssh2 readyTimeout: the whole handshake + auth, once the server talks (default 10 s; slow under TCG). */
  handshakeTimeoutMs?: number;
  /** Keepalive: a guest that stops answering for interval × countMax is declared gone (default 2 s × 3). */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /**
   * Resolves once the guest has said that its sshd listens (the image's console line); a rejection
   * means no hint (the sparse attempts go on until the deadline). Until it resolves
   * attempts are sparse: one at a time, a new one at most every unreadyIntervalMs. Every connection
   * that reaches an emulated guest's sshd costs it a fork and a re-exec at the busiest moment of its
   * boot, and overlapping attempts made while the guest is still unreachable all arrive together
   * once it is (measured under TCG: about 40 connections in the 8 s after sshd started, three of
   * them completing authentication; the winning handshake took 4–7 s). Once it resolves, attempts
   * made before are dropped and one fresh attempt at a time follows. Without it: overlapping attempts.
   */
  readyHint?: Promise<unknown>;
  /**
   * After readyHint resolved, this many consecutive attempts refused at authentication (host key
   * verified, the client key rejected) end the wait with SshAuthRejectedError. Only for images whose
   * keys are in place before sshd starts (Ignition, credentials); unset: keep trying to the deadline.
   */
  authRejectionsAfterReady?: number;
  /** Before readyHint resolves, start an attempt at most this often (default 5000 ms). */
  unreadyIntervalMs?: number;
  /** Guest shell for commands (default `sh`). */
  shell?: string;
  /** One line per connection and per command; never key material. */
  log?: (line: string) => void;
}

interface Attempt {
  client: Client;
  sock: net.Socket;
  endpoint: SshEndpoint;
  /** The server sent at least one byte: a real sshd is on the other end, not a bare slirp accept. */
  talking: boolean;
  finished: boolean;
  timers: NodeJS.Timeout[];
  startedAt: number;
}

/** Deadlines are absolute; a small number is almost certainly a duration passed by mistake. */
function assertAbsoluteDeadline(deadlineMs: number): void {
  if (!Number.isFinite(deadlineMs) || deadlineMs < 1e12) {
    throw new TypeError(`deadlineMs must be an absolute time (Date.now() + ms), got ${deadlineMs}`);
  }
}

function hostKeyAlgorithms(key: PinnedHostKey): ServerHostKeyAlgorithm[] {
  // Offer only the pinned key's algorithm so a guest with several host keys presents the pinned one.
  if (key.type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [key.type as ServerHostKeyAlgorithm];
}

function describe(ep: SshEndpoint | null): string {
  return ep ? `${ep.host}:${ep.port}` : '(no endpoint yet)';
}

/** The connect options with their defaults applied. */
interface Pacing {
  interval: number;
  refusedRetry: number;
  maxSilent: number;
  bannerTimeout: number;
  minSilentAge: number;
  unreadyInterval: number;
  handshakeTimeout: number;
  keepaliveInterval: number;
  keepaliveCountMax: number;
}

function pacingOf(opts: ConnectOptions): Pacing {
  const interval = opts.attemptIntervalMs ?? 150;
  const bannerTimeout = opts.bannerTimeoutMs ?? 2500;
  return {
    interval,
    refusedRetry: Math.min(interval, opts.refusedRetryMs ?? 50),
    maxSilent: opts.maxSilentAttempts ?? 8,
    bannerTimeout,
    minSilentAge: Math.min(bannerTimeout, opts.minSilentAgeMs ?? 1000),
    unreadyInterval: Math.max(interval, opts.unreadyIntervalMs ?? 5000),
    handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
    keepaliveInterval: opts.keepaliveIntervalMs ?? 2000,
    keepaliveCountMax: opts.keepaliveCountMax ?? 3,
  };
}

async function readPrivateKey(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (e) {
    throw new InfraError(`cannot read the SSH private key ${file}: ${errorMessage(e)}`, 'ssh');
  }
}

/** What the scheduler knows when it considers a new attempt. */
export interface AttemptView {
  talking: boolean;
  startedAt: number;
}

export type AttemptDecision = { kind: 'start' } | { kind: 'wait' } | { kind: 'supersede-then-start'; oldest: number };

/**
 * Whether to start another attempt now, and whether the oldest silent one must make room first.
 * `hinted`: a ready hint was given (then one silent attempt at a time); `readyAt`: when it said
 * sshd is up (-Infinity before).
 */
export function decideAttempt(attempts: readonly AttemptView[], o: { now: number; hinted: boolean; readyAt: number; maxSilent: number; minSilentAge: number }): AttemptDecision {
  // A real sshd is answering one of the attempts: let that handshake finish instead of piling
  // more handshakes on a guest that may be emulated (each costs sshd a fork and a key exchange).
  if (attempts.some((a) => a.talking)) return { kind: 'wait' };
  // At the cap, the oldest silent attempt makes room — but only once it is old enough: under
  // TCG a freshly started guest sshd can take a second or more to send its banner, and cutting
  // it short then means never connecting (and loading the guest with abandoned sshd children).
  const silent = attempts.map((a, i) => ({ a, i })).filter(({ a }) => !a.talking);
  if (silent.length < (o.hinted ? 1 : o.maxSilent)) return { kind: 'start' };
  const oldest = silent[0]!;
  // (an attempt from before the guest said it was ready is likely parked in slirp: replace it now)
  if (oldest.a.startedAt >= o.readyAt && o.now - oldest.a.startedAt < o.minSilentAge) return { kind: 'wait' };
  return { kind: 'supersede-then-start', oldest: oldest.i };
}

/** Whether the ticker should try now: every interval (sparser before the ready hint), sooner after a refusal. */
export function dueForAttempt(o: { now: number; lastStartAt: number; lastRefusedAt: number; ready: boolean; pacing: Pick<Pacing, 'interval' | 'unreadyInterval' | 'refusedRetry'> }): boolean {
  const every = o.ready ? o.pacing.interval : o.pacing.unreadyInterval;
  const refusedSinceLastStart = o.lastRefusedAt >= o.lastStartAt;
  return o.now - o.lastStartAt >= every || (refusedSinceLastStart && o.now - o.lastStartAt >= o.pacing.refusedRetry);
}

interface AttemptHandlers {
  /** Called before anything can fail, so the attempt is tracked when its first event comes. */
  onStart: (a: Attempt) => void;
  onReady: (a: Attempt) => void;
  onFailed: (a: Attempt, err: Error) => void;
  onHostKeyMismatch: (err: HostKeyMismatchError) => void;
}

/** Open one TCP connection + SSH handshake to `endpoint`; the handlers hear how it ends. */
function openAttempt(endpoint: SshEndpoint, o: { user: string; privateKey: Buffer; pinned: PinnedHostKey; pacing: Pacing }, h: AttemptHandlers): void {
  const sock = new net.Socket();
  const client = new Client();
  const attempt: Attempt = { client, sock, endpoint, talking: false, finished: false, timers: [], startedAt: performance.now() };
  let presentedKey: string | null = null;
  h.onStart(attempt);
  attempt.timers.push(
    setTimeout(() => {
      if (!attempt.talking) h.onFailed(attempt, new Error(`port accepts but no SSH banner within ${o.pacing.bannerTimeout} ms`));
    }, o.pacing.bannerTimeout),
  );
  client.on('ready', () => h.onReady(attempt));
  client.on('error', (err: Error) => {
    if (presentedKey !== null) return h.onHostKeyMismatch(new HostKeyMismatchError(describe(endpoint), o.pinned.fingerprint, presentedKey));
    h.onFailed(attempt, err);
  });
  client.on('close', () => h.onFailed(attempt, new Error('connection closed before the SSH handshake finished')));

  sock.connect(endpoint.port, endpoint.host);
  client.connect({
    sock,
    username: o.user,
    privateKey: o.privateKey,
    readyTimeout: o.pacing.handshakeTimeout,
    keepaliveInterval: o.pacing.keepaliveInterval,
    keepaliveCountMax: o.pacing.keepaliveCountMax,
    algorithms: { serverHostKey: hostKeyAlgorithms(o.pinned) },
    hostVerifier: (key: Buffer): boolean => {
      if (key.equals(o.pinned.blob)) return true;
      presentedKey = fingerprintOf(key);
      return false;
    },
  });
  // Added after ssh2 paused the socket, so this listener does not start the flow early; it sees
  // the same bytes as ssh2 once ssh2 resumes.
  sock.once('data', () => {
    attempt.talking = true;
  });
}

/** Close an attempt for good; late errors from a closed loser are noise, never unhandled. */
function closeAttempt(a: Attempt): void {
  a.finished = true;
  for (const t of a.timers) clearTimeout(t);
  a.client.removeAllListeners('ready');
  a.client.on('error', () => {});
  a.client.destroy();
  a.sock.destroy();
}

/**
 * Connect to the guest, retrying until the deadline. Attempts overlap: a new one starts every
 * attemptIntervalMs even while earlier ones hang waiting for a banner, so SSH being ready is noticed
 * within about one interval plus a handshake. The first handshake wins; the others are closed.
 */
export async function connectGuest(opts: ConnectOptions): Promise<GuestSession> {
  assertAbsoluteDeadline(opts.deadlineMs);
  // Taken over before the first await: a hint that rejects (a console wait that timed out, a machine
  // that died) only means "no hint", never an unhandled rejection.
  const sshdUp = opts.readyHint?.then(
    () => true,
    () => false,
  );
  if (opts.signal?.aborted) throw opts.signal.reason;
  const pinned = parsePublicKeyLine(opts.hostPublicKey);
  const privateKey = await readPrivateKey(opts.privateKeyPath);
  const pacing = pacingOf(opts);
  const started = performance.now();

  return new Promise<GuestSession>((resolve, reject) => {
    const attempts = new Set<Attempt>();
    let settled = false;
    let attemptCount = 0;
    let lastError: string | null = null;
    let lastEndpoint: SshEndpoint | null = null;
    let lastStartAt = -Infinity;
    let lastRefusedAt = -Infinity;
    // With a ready hint: sparse attempts until it settles, then one at a time (see readyHint).
    const hinted = sshdUp !== undefined;
    let ready = !hinted;
    let readyAt = -Infinity;
    let authRejections = 0;

    const abandon = (a: Attempt): void => {
      if (a.finished) return;
      attempts.delete(a);
      closeAttempt(a);
    };
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearInterval(ticker);
      clearTimeout(deadlineTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      for (const a of [...attempts]) abandon(a);
      fn();
    };
    const handlers: AttemptHandlers = {
      onStart: (a) => attempts.add(a),
      onFailed: (a, err) => {
        if (a.finished) return;
        abandon(a);
        lastError = `${describe(a.endpoint)}: ${err.message}`;
        if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') lastRefusedAt = performance.now();
        opts.onAttemptError?.(err);
        // ssh2 marks a rejected client key with level 'client-authentication'
        const rejected = (err as Error & { level?: string }).level === 'client-authentication';
        authRejections = ready && hinted && rejected ? authRejections + 1 : 0;
        if (opts.authRejectionsAfterReady !== undefined && authRejections >= opts.authRejectionsAfterReady) {
          const message =
            `sshd on ${describe(a.endpoint)} answers with the pinned host key ${pinned.fingerprint} but refused ${opts.user}'s key ` +
            `${authRejections} times after the guest said sshd is up: the login is gone (no authorized key or no such user where sshd looks)`;
          settle(() => reject(new SshAuthRejectedError(message)));
        }
      },
      onReady: (a) => {
        if (a.finished || settled) return abandon(a);
        a.finished = true;
        attempts.delete(a);
        for (const t of a.timers) clearTimeout(t);
        a.client.removeAllListeners('error');
        a.client.removeAllListeners('close');
        const session = new SshGuestSession(a.client, { endpoint: a.endpoint, user: opts.user, shell: opts.shell, log: opts.log }, a.sock);
        opts.log?.(
          `ssh ${opts.user}@${describe(a.endpoint)} ready after ${Math.round(performance.now() - started)} ms (${attemptCount} attempts, handshake ${Math.round(performance.now() - a.startedAt)} ms)`,
        );
        settle(() => resolve(session));
      },
      onHostKeyMismatch: (err) => settle(() => reject(err)),
    };

    const startAttempt = (): void => {
      if (settled) return;
      const endpoint = opts.endpoint();
      if (!endpoint) {
        lastError = 'the machine has no SSH endpoint yet';
        return;
      }
      lastEndpoint = endpoint;
      const list = [...attempts];
      const now = performance.now();
      const decision = decideAttempt(list, { now, hinted, readyAt, maxSilent: pacing.maxSilent, minSilentAge: pacing.minSilentAge });
      if (decision.kind === 'wait') return;
      if (decision.kind === 'supersede-then-start') {
        const oldest = list[decision.oldest]!;
        handlers.onFailed(oldest, new Error(`no SSH banner after ${Math.round(now - oldest.startedAt)} ms; superseded by a newer attempt`));
      }
      lastStartAt = performance.now();
      attemptCount++;
      openAttempt(endpoint, { user: opts.user, privateKey, pinned, pacing }, handlers);
    };

    const onAbort = (): void => settle(() => reject(opts.signal?.reason));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const deadlineTimer = setTimeout(
      () => {
        const waited = ((performance.now() - started) / 1000).toFixed(1);
        const message =
          `gave up after ${waited} s waiting for SSH on ${describe(lastEndpoint)} to accept ${opts.user} ` +
          `with host key ${pinned.fingerprint} (${attemptCount} attempts); last error: ${lastError ?? 'none'}`;
        settle(() => reject(new SshConnectTimeoutError(message, lastError)));
      },
      Math.max(0, opts.deadlineMs - Date.now()),
    );
    // A fine-grained tick decides when to start (see dueForAttempt).
    const ticker = setInterval(() => {
      if (dueForAttempt({ now: performance.now(), lastStartAt, lastRefusedAt, ready, pacing })) startAttempt();
    }, pacing.refusedRetry);
    void sshdUp?.then((up) => {
      // (not up: no hint after all — the sparse attempts carry on until the deadline)
      if (!up || settled || ready) return;
      ready = true;
      readyAt = performance.now();
      opts.log?.(`ssh: the guest says sshd is up after ${Math.round(readyAt - started)} ms; connecting`);
      startAttempt();
    });
    startAttempt();
  });
}
