import net from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * A QMP (QEMU Machine Protocol) client: newline-delimited JSON over a stream (a unix socket, or
 * the socketpair QEMU inherits as a file descriptor). Greeting → qmp_capabilities → commands with
 * ids and timeouts, plus an event stream. When the stream closes (QEMU exited), every pending
 * command rejects with a clear error instead of hanging.
 */

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export type QmpMessage =
  | { kind: 'greeting'; version: unknown; capabilities: unknown }
  | { kind: 'return'; id?: string; value: unknown }
  | { kind: 'error'; id?: string; errorClass: string; desc: string }
  | { kind: 'event'; event: QmpEvent }
  | { kind: 'unknown'; raw: unknown };

/** A command QEMU answered with an error. */
export class QmpCommandError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`);
    this.name = 'QmpCommandError';
  }
}

/** The QMP connection is gone (QEMU exited) or a command got no answer in time. */
export class QmpConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QmpConnectionError';
  }
}

/** Classify one JSON line from QEMU. Throws on invalid JSON. */
export function parseQmpLine(line: string): QmpMessage {
  const msg = JSON.parse(line) as Record<string, unknown>;
  const id = typeof msg['id'] === 'string' ? msg['id'] : undefined;
  if (msg['QMP'] && typeof msg['QMP'] === 'object') {
    const qmp = msg['QMP'] as Record<string, unknown>;
    return { kind: 'greeting', version: qmp['version'], capabilities: qmp['capabilities'] };
  }
  if ('return' in msg) return id === undefined ? { kind: 'return', value: msg['return'] } : { kind: 'return', id, value: msg['return'] };
  if (msg['error'] && typeof msg['error'] === 'object') {
    const err = msg['error'] as Record<string, unknown>;
    const base = { kind: 'error' as const, errorClass: String(err['class'] ?? 'GenericError'), desc: String(err['desc'] ?? '') };
    return id === undefined ? base : { ...base, id };
  }
  if (typeof msg['event'] === 'string') {
    const event: QmpEvent = { event: msg['event'] };
    if (msg['data'] && typeof msg['data'] === 'object') event.data = msg['data'] as Record<string, unknown>;
    if (msg['timestamp'] && typeof msg['timestamp'] === 'object') event.timestamp = msg['timestamp'] as QmpEvent['timestamp'];
    return { kind: 'event', event };
  }
  return { kind: 'unknown', raw: msg };
}

/** Splits a byte stream into complete lines; keeps the partial tail for the next chunk. */
export class LineDecoder {
  private tail = '';

  push(chunk: string): string[] {
    this.tail += chunk;
    const parts = this.tail.split('\n');
    this.tail = parts.pop() ?? '';
    return parts.map((l) => l.replace(/\r$/, '')).filter((l) => l.trim().length > 0);
  }
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface QmpConnectOptions {
  /** Greeting + capabilities negotiation deadline. */
  timeoutMs?: number;
}

export class QmpClient {
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(ev: QmpEvent) => void>();
  private readonly decoder = new LineDecoder();
  private nextId = 1;
  private closedReason: string | null = null;
  private greetingWaiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private greeted = false;
  /** Every event received, in order (the machine uses SHUTDOWN's reason after QEMU exits). */
  readonly events: QmpEvent[] = [];
  /** Resolves when the stream has closed. */
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  private constructor(private readonly stream: Duplex) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.onData(chunk));
    stream.on('error', (err: Error) => this.shutdown(`QMP connection error: ${err.message}`));
    stream.on('close', () => this.shutdown('QMP connection closed (QEMU exited)'));
    stream.on('end', () => this.shutdown('QMP connection closed (QEMU exited)'));
  }

  /** Connect over a unix socket path. */
  static async connectPath(socketPath: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const sock = net.connect(socketPath);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    return QmpClient.fromStream(sock, opts);
  }

  /** Use an already connected stream (e.g. the socketpair end QEMU inherited as fd 3). */
  static async fromStream(stream: Duplex, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const client = new QmpClient(stream);
    await client.handshake(opts.timeoutMs ?? 30_000);
    return client;
  }

  get isClosed(): boolean {
    return this.closedReason !== null;
  }

  private async handshake(timeoutMs: number): Promise<void> {
    if (!this.greeted) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new QmpConnectionError(`no QMP greeting from QEMU within ${timeoutMs} ms`)), timeoutMs);
        this.greetingWaiter = {
          resolve: () => (clearTimeout(timer), resolve()),
          reject: (e) => (clearTimeout(timer), reject(e)),
        };
        if (this.closedReason) this.greetingWaiter.reject(new QmpConnectionError(this.closedReason));
      });
    }
    await this.execute('qmp_capabilities', undefined, { timeoutMs });
  }

  private onData(chunk: string): void {
    for (const line of this.decoder.push(chunk)) {
      let msg: QmpMessage;
      try {
        msg = parseQmpLine(line);
      } catch {
        continue; // not JSON: ignore rather than kill the connection
      }
      this.dispatch(msg);
    }
  }

  private dispatch(msg: QmpMessage): void {
    switch (msg.kind) {
      case 'greeting':
        this.greeted = true;
        this.greetingWaiter?.resolve();
        this.greetingWaiter = null;
        return;
      case 'return':
      case 'error': {
        const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
        if (!p || msg.id === undefined) return;
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.kind === 'return') p.resolve(msg.value);
        else p.reject(new QmpCommandError(p.command, msg.errorClass, msg.desc));
        return;
      }
      case 'event':
        this.events.push(msg.event);
        for (const l of this.listeners) l(msg.event);
        return;
      default:
        return;
    }
  }

  private shutdown(reason: string): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    this.greetingWaiter?.reject(new QmpConnectionError(reason));
    this.greetingWaiter = null;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new QmpConnectionError(`${reason} before QMP ${p.command} was answered`));
      this.pending.delete(id);
    }
    this.markClosed();
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (this.closedReason) return Promise.reject(new QmpConnectionError(`${this.closedReason}; cannot send QMP ${command}`));
    const id = `bp-${this.nextId++}`;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpConnectionError(`QMP ${command} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      const msg = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.stream.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Subscribe to events; returns an unsubscribe function. */
  onEvent(listener: (ev: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolve with the next event named `name` (optionally matching `pred`). */
  waitForEvent(name: string, opts: { timeoutMs: number; pred?: (ev: QmpEvent) => boolean }): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (off(), reject(new QmpConnectionError(`no QMP ${name} event within ${opts.timeoutMs} ms`))), opts.timeoutMs);
      const off = this.onEvent((ev) => {
        if (ev.event === name && (!opts.pred || opts.pred(ev))) {
          clearTimeout(timer);
          off();
          resolve(ev);
        }
      });
    });
  }

  queryStatus(): Promise<{ running: boolean; status: string }> {
    return this.execute('query-status');
  }

  systemPowerdown(): Promise<unknown> {
    return this.execute('system_powerdown');
  }

  systemReset(): Promise<unknown> {
    return this.execute('system_reset');
  }

  /** Ask QEMU to exit. The connection usually closes before or right after the answer. */
  async quit(): Promise<void> {
    try {
      await this.execute('quit', undefined, { timeoutMs: 5000 });
    } catch (err) {
      if (!(err instanceof QmpConnectionError)) throw err;
    }
  }

  close(): void {
    this.shutdown('QMP connection closed by bootpath');
    this.stream.destroy();
  }
}
