import { promises as fs } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Client, type ServerHostKeyAlgorithm } from 'ssh2';
import type { SshEndpoint } from '../../vm/machine.js';
import { InfraError, errorMessage } from '../../core/errors.js';
import { HostKeyMismatchError, SshConnectTimeoutError } from './errors.js';
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
  let privateKey: Buffer;
  try {
    privateKey = await fs.readFile(opts.privateKeyPath);
  } catch (e) {
    throw new InfraError(`cannot read the SSH private key ${opts.privateKeyPath}: ${errorMessage(e)}`, 'ssh');
  }
  const interval = opts.attemptIntervalMs ?? 150;
  const refusedRetry = Math.min(interval, opts.refusedRetryMs ?? 50);
  const maxSilent = opts.maxSilentAttempts ?? 8;
  const bannerTimeout = opts.bannerTimeoutMs ?? 2500;
  const minSilentAge = Math.min(bannerTimeout, opts.minSilentAgeMs ?? 1000);
  const unreadyInterval = Math.max(interval, opts.unreadyIntervalMs ?? 5000);
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

    const abandon = (a: Attempt): void => {
      if (a.finished) return;
      a.finished = true;
      attempts.delete(a);
      for (const t of a.timers) clearTimeout(t);
      a.client.removeAllListeners('ready');
      a.client.on('error', () => {}); // late errors from a closed loser are noise, never unhandled
      a.client.destroy();
      a.sock.destroy();
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
    const attemptFailed = (a: Attempt, err: Error): void => {
      if (a.finished) return;
      abandon(a);
      lastError = `${describe(a.endpoint)}: ${err.message}`;
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') lastRefusedAt = performance.now();
      opts.onAttemptError?.(err);
    };

    const startAttempt = (): void => {
      if (settled) return;
      const endpoint = opts.endpoint();
      if (!endpoint) {
        lastError = 'the machine has no SSH endpoint yet';
        return;
      }
      lastEndpoint = endpoint;
      // A real sshd is answering one of the attempts: let that handshake finish instead of piling
      // more handshakes on a guest that may be emulated (each costs sshd a fork and a key exchange).
      if ([...attempts].some((a) => a.talking)) return;
      // At the cap, the oldest silent attempt makes room — but only once it is old enough: under
      // TCG a freshly started guest sshd can take a second or more to send its banner, and cutting
      // it short then means never connecting (and loading the guest with abandoned sshd children).
      const silent = [...attempts].filter((a) => !a.talking);
      if (silent.length >= (hinted ? 1 : maxSilent)) {
        const oldest = silent[0]!;
        // (an attempt from before the guest said it was ready is likely parked in slirp: replace it now)
        if (oldest.startedAt >= readyAt && performance.now() - oldest.startedAt < minSilentAge) return;
        attemptFailed(oldest, new Error(`no SSH banner after ${Math.round(performance.now() - oldest.startedAt)} ms; superseded by a newer attempt`));
      }
      lastStartAt = performance.now();
      attemptCount++;
      const sock = new net.Socket();
      const client = new Client();
      const attempt: Attempt = { client, sock, endpoint, talking: false, finished: false, timers: [], startedAt: performance.now() };
      attempts.add(attempt);
      let presentedKey: string | null = null;

      attempt.timers.push(
        setTimeout(() => {
          if (!attempt.talking) attemptFailed(attempt, new Error(`port accepts but no SSH banner within ${bannerTimeout} ms`));
        }, bannerTimeout),
      );
      client.on('ready', () => {
        if (attempt.finished || settled) return abandon(attempt);
        attempt.finished = true;
        attempts.delete(attempt);
        for (const t of attempt.timers) clearTimeout(t);
        client.removeAllListeners('error');
        client.removeAllListeners('close');
        const session = new SshGuestSession(client, { endpoint, user: opts.user, shell: opts.shell, log: opts.log });
        opts.log?.(`ssh ${opts.user}@${describe(endpoint)} ready after ${Math.round(performance.now() - started)} ms (${attemptCount} attempts, handshake ${Math.round(performance.now() - attempt.startedAt)} ms)`);
        settle(() => resolve(session));
      });
      client.on('error', (err: Error) => {
        if (presentedKey !== null) {
          const mismatch = new HostKeyMismatchError(describe(endpoint), pinned.fingerprint, presentedKey);
          return settle(() => reject(mismatch));
        }
        attemptFailed(attempt, err);
      });
      client.on('close', () => attemptFailed(attempt, new Error('connection closed before the SSH handshake finished')));

      sock.connect(endpoint.port, endpoint.host);
      client.connect({
        sock,
        username: opts.user,
        privateKey,
        readyTimeout: opts.handshakeTimeoutMs ?? 10_000,
        keepaliveInterval: opts.keepaliveIntervalMs ?? 2000,
        keepaliveCountMax: opts.keepaliveCountMax ?? 3,
        algorithms: { serverHostKey: hostKeyAlgorithms(pinned) },
        hostVerifier: (key: Buffer): boolean => {
          if (key.equals(pinned.blob)) return true;
          presentedKey = fingerprintOf(key);
          return false;
        },
      });
      // Added after ssh2 paused the socket, so this listener does not start the flow early; it sees
      // the same bytes as ssh2 once ssh2 resumes.
      sock.once('data', () => {
        attempt.talking = true;
      });
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
    // A fine-grained tick decides when to start: every `interval`, or sooner once the latest
    // attempt was refused (so a port that starts listening is tried again within refusedRetry).
    const ticker = setInterval(() => {
      const now = performance.now();
      const refusedSinceLastStart = lastRefusedAt >= lastStartAt;
      const every = ready ? interval : unreadyInterval;
      if (now - lastStartAt >= every || (refusedSinceLastStart && now - lastStartAt >= refusedRetry)) startAttempt();
    }, refusedRetry);
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
