import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import type { Client, ClientChannel } from 'ssh2';
import type { SshEndpoint } from '../../vm/machine.js';
import { InfraError, errorMessage } from '../../core/errors.js';
import { ConnectionLostError } from './errors.js';
import { shJoin, wrapGuestCommand } from './quote.js';

export interface ExecOptions {
  /** Wall-clock limit. The command is killed in the guest when it runs longer (see wrapGuestCommand). */
  timeoutMs: number;
  /** Run via `sudo -n --`. Off by default: tests run as root against a host sshd. */
  sudo?: boolean;
  /** Called with output as it arrives (for the step log). */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Aborting closes the channel and rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Wrap in coreutils `timeout` in the guest (default true). Turn off only for guests without
   * coreutils; a timed-out command may then keep running in the guest.
   */
  guestTimeout?: boolean;
  /** What the log line calls the command (long scripts would flood the step log). */
  label?: string;
}

export interface ExecResult {
  command: string;
  /** null when the command was killed by a signal or abandoned at the host-side deadline. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

/** One SSH connection to a guest. Implemented by SshGuestSession; fakes in tests implement it too. */
export interface GuestSession {
  readonly endpoint: SshEndpoint;
  readonly user: string;
  /** Resolves once the connection is gone: null after close(), the reason when it dropped. Never rejects. */
  readonly closed: Promise<ConnectionLostError | null>;
  readonly isOpen: boolean;
  exec(command: string, opts: ExecOptions): Promise<ExecResult>;
  /** Runs argv with each element quoted for the guest's POSIX shell: values are never re-parsed. */
  execArgv(argv: readonly string[], opts: ExecOptions): Promise<ExecResult>;
  upload(localPath: string, remotePath: string): Promise<void>;
  download(remotePath: string, localPath: string): Promise<void>;
  close(): Promise<void>;
}

export interface SessionSettings {
  endpoint: SshEndpoint;
  user: string;
  /** Guest shell that interprets commands (default `sh`). */
  shell?: string;
  /** SIGTERM → SIGKILL grace in the guest for timed-out commands. */
  killAfterMs?: number;
  /** Receives one line per command: the command, exit code and duration. Never key material. */
  log?: (line: string) => void;
}

/** How long after the guest-side kill deadline the host gives up on the channel. */
const HOST_GRACE_MS = 1500;
/** Exit codes GNU `timeout` uses when it had to kill the command. */
const TIMEOUT_EXIT_CODES = new Set([124, 137]);

interface PendingExec {
  onConnectionLost(err: ConnectionLostError): void;
}

export class SshGuestSession implements GuestSession {
  readonly endpoint: SshEndpoint;
  readonly user: string;
  readonly closed: Promise<ConnectionLostError | null>;
  private lost: ConnectionLostError | null = null;
  private open = true;
  private closing = false;
  private lastClientError: string | null = null;
  private readonly pending = new Set<PendingExec>();
  private resolveClosed!: (reason: ConnectionLostError | null) => void;

  constructor(
    private readonly client: Client,
    private readonly settings: SessionSettings,
    /**
     * The TCP socket under the client. ssh2's destroy() does nothing once end() has half-closed the
     * socket, and a guest that is paused (QEMU stopped it on a full disk) never answers the FIN:
     * close() destroys the socket itself so that it cannot wait forever.
     */
    private readonly socket?: { destroy(): void },
  ) {
    this.endpoint = settings.endpoint;
    this.user = settings.user;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    // ssh2 reports keepalive timeouts and socket resets as 'error' and then closes; remember the
    // error so the ConnectionLostError can say why.
    client.on('error', (err: Error) => {
      this.lastClientError = err.message;
    });
    client.on('close', () => this.onClientClosed());
  }

  get isOpen(): boolean {
    return this.open;
  }

  private where(): string {
    return `${this.endpoint.host}:${this.endpoint.port}`;
  }

  private onClientClosed(): void {
    if (!this.open) return;
    this.open = false;
    if (this.closing) {
      const closedErr = new ConnectionLostError(`SSH session to ${this.where()} was closed by bootpath`);
      for (const p of [...this.pending]) p.onConnectionLost(closedErr);
      this.resolveClosed(null);
      return;
    }
    const why = this.lastClientError ? ` (${this.lastClientError})` : '';
    this.lost = new ConnectionLostError(`SSH connection to ${this.user}@${this.where()} dropped${why}`);
    for (const p of [...this.pending]) p.onConnectionLost(this.lost);
    this.resolveClosed(this.lost);
  }

  private notOpenError(command: string): ConnectionLostError {
    return this.lost
      ? new ConnectionLostError(`${this.lost.message}; cannot run: ${command}`, command)
      : new ConnectionLostError(`SSH session to ${this.where()} was closed; cannot run: ${command}`, command);
  }

  execArgv(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    return this.exec(shJoin(argv), opts);
  }

  exec(command: string, opts: ExecOptions): Promise<ExecResult> {
    if (!this.open) return Promise.reject(this.notOpenError(command));
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    const killAfterMs = this.settings.killAfterMs ?? 2000;
    const useGuestTimeout = opts.guestTimeout !== false;
    const wire = wrapGuestCommand(command, {
      sudo: opts.sudo,
      timeoutMs: useGuestTimeout ? opts.timeoutMs : undefined,
      killAfterMs,
      shell: this.settings.shell,
    });
    const started = performance.now();

    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false;
      let channel: ClientChannel | null = null;
      let exitCode: number | null = null;
      let exitSignal: string | null = null;
      let sawExit = false;
      let hostTimedOut = false;
      const out = new StringDecoder('utf8');
      const err = new StringDecoder('utf8');
      let stdout = '';
      let stderr = '';

      const cleanup = (): void => {
        clearTimeout(hostDeadline);
        opts.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(pending);
      };
      const finish = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        stdout += out.end();
        stderr += err.end();
        const durationMs = Math.round(performance.now() - started);
        const guestKilled =
          useGuestTimeout && durationMs >= opts.timeoutMs && ((exitCode !== null && TIMEOUT_EXIT_CODES.has(exitCode)) || exitSignal === 'SIGKILL');
        const result: ExecResult = {
          command,
          exitCode,
          signal: exitSignal,
          stdout,
          stderr,
          durationMs,
          timedOut: hostTimedOut || guestKilled,
        };
        const status = result.timedOut ? 'timed out' : exitSignal ? `signal ${exitSignal}` : `exit ${String(exitCode)}`;
        this.settings.log?.(`exec ${opts.sudo ? '(sudo) ' : ''}${opts.label ?? command} → ${status} in ${durationMs} ms`);
        resolve(result);
      };
      const fail = (e: unknown): void => {
        if (settled) return;
        settled = true;
        cleanup();
        channel?.close();
        this.settings.log?.(`exec ${opts.label ?? command} → ${errorMessage(e)}`);
        reject(e);
      };
      const onAbort = (): void => fail(opts.signal?.reason);
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      const pending: PendingExec = {
        onConnectionLost: (lostErr) => {
          // The exit status arrived before the drop (e.g. `systemctl reboot` returned): a result.
          if (sawExit) return finish();
          const ms = Math.round(performance.now() - started);
          fail(new ConnectionLostError(`${lostErr.message} while running \`${command}\` (after ${ms} ms)`, command));
        },
      };
      this.pending.add(pending);

      // The guest kills the command at timeoutMs (+ kill grace); the host stops waiting a little
      // later so that a hung channel or a guest without `timeout` cannot block the harness.
      const hostDeadline = setTimeout(
        () => {
          hostTimedOut = true;
          channel?.close();
          finish();
        },
        opts.timeoutMs + (useGuestTimeout ? killAfterMs + HOST_GRACE_MS : 0),
      );

      this.client.exec(wire, (openErr, stream) => {
        if (openErr) {
          if (!this.open) return fail(this.notOpenError(command));
          return fail(new InfraError(`could not open an SSH channel on ${this.where()} to run \`${command}\`: ${openErr.message}`, 'ssh'));
        }
        if (settled) {
          stream.close();
          return;
        }
        channel = stream;
        stream.on('data', (chunk: Buffer) => {
          const text = out.write(chunk);
          stdout += text;
          if (text) opts.onStdout?.(text);
        });
        stream.stderr.on('data', (chunk: Buffer) => {
          const text = err.write(chunk);
          stderr += text;
          if (text) opts.onStderr?.(text);
        });
        stream.on('exit', (code: number | null, sig?: string) => {
          sawExit = true;
          exitCode = typeof code === 'number' ? code : null;
          // ssh2 reports names as `SIGKILL`; keep Node's convention even if a server sends `KILL`.
          exitSignal = typeof sig === 'string' ? (sig.startsWith('SIG') ? sig : `SIG${sig}`) : null;
        });
        stream.on('close', () => {
          if (!sawExit && !this.open) return pending.onConnectionLost(this.lost ?? this.notOpenError(command));
          finish();
        });
      });
    });
  }

  upload(localPath: string, remotePath: string): Promise<void> {
    return this.withSftp(`upload ${localPath} → guest:${remotePath}`, (sftp, done) => sftp.fastPut(localPath, remotePath, done));
  }

  download(remotePath: string, localPath: string): Promise<void> {
    return this.withSftp(`download guest:${remotePath} → ${localPath}`, (sftp, done) => sftp.fastGet(remotePath, localPath, done));
  }

  private withSftp(
    what: string,
    op: (sftp: import('ssh2').SFTPWrapper, done: (err?: Error | null) => void) => void,
  ): Promise<void> {
    if (!this.open) return Promise.reject(this.notOpenError(what));
    const started = performance.now();
    return new Promise<void>((resolve, reject) => {
      this.client.sftp((openErr, sftp) => {
        if (openErr) {
          reject(new InfraError(`${what} failed on ${this.where()}: could not start sftp: ${openErr.message}`, 'ssh'));
          return;
        }
        op(sftp, (opErr) => {
          sftp.end();
          if (opErr) {
            reject(new InfraError(`${what} failed on ${this.where()}: ${opErr.message}`, 'ssh'));
            return;
          }
          this.settings.log?.(`${what} in ${Math.round(performance.now() - started)} ms`);
          resolve();
        });
      });
    });
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.closing = true;
    this.client.end();
    // end() waits for the server to close; a dead guest never will, so destroy after a moment.
    const forced = setTimeout(() => {
      this.client.destroy();
      this.socket?.destroy();
    }, 1000);
    await this.closed;
    clearTimeout(forced);
  }
}
