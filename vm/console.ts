import { promises as fs } from 'node:fs';
import { LineDecoder } from './qmp.js';

/**
 * Live capture of one boot's serial console. QEMU writes the console straight into
 * `<runDir>/console-<n>.log` (a file chardev: nothing is lost if bootpath is slow or dies), and this
 * class tails that file in-process: it keeps the text in memory for waitForConsole(), and hands
 * every complete line to the problem watcher.
 */

/** How often the file is polled. Panics must be flagged within 2 s; 100 ms keeps that easy. */
const POLL_MS = 100;
/** Keep at most this much text of one boot in memory (older text is still in the file). */
const MAX_TEXT = 8 * 1024 * 1024;

export class ConsoleTail {
  private text = '';
  private position = 0;
  private handle: fs.FileHandle | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly decoder = new LineDecoder();
  private readonly dataListeners = new Set<() => void>();
  private readonly lineListeners = new Set<(line: string) => void>();

  constructor(
    readonly file: string,
    readonly boot: number,
  ) {}

  /** Start polling. The file may not exist yet (QEMU creates it). */
  start(): void {
    if (this.timer || this.stopped) return;
    const tick = (): void => {
      this.timer = null;
      void this.readMore().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, POLL_MS).unref();
      });
    };
    tick();
  }

  /** Read what is left in the file, then stop. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.readMore();
    const last = this.decoder.push('\n');
    for (const line of last) this.emitLine(line);
    await this.handle?.close().catch(() => undefined);
    this.handle = null;
  }

  private chain: Promise<void> = Promise.resolve();

  /** Read newly appended bytes now. Calls are serialized: the poller and on-demand reads never overlap. */
  readMore(): Promise<void> {
    const next = this.chain.then(() => this.readOnce());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async readOnce(): Promise<void> {
    if (!this.handle) {
      try {
        this.handle = await fs.open(this.file, 'r');
      } catch {
        return; // not created yet
      }
    }
    const chunk = Buffer.alloc(64 * 1024);
    let appended = '';
    for (;;) {
      const { bytesRead } = await this.handle.read(chunk, 0, chunk.length, this.position);
      if (bytesRead === 0) break;
      this.position += bytesRead;
      // latin1 never throws on partial UTF-8 sequences; console text is ASCII in practice.
      appended += chunk.toString('latin1', 0, bytesRead);
    }
    if (!appended) return;
    this.text += appended;
    if (this.text.length > MAX_TEXT) this.text = this.text.slice(this.text.length - MAX_TEXT);
    for (const line of this.decoder.push(appended)) this.emitLine(line);
    for (const l of this.dataListeners) l();
  }

  private emitLine(line: string): void {
    for (const l of this.lineListeners) l(line);
  }

  get captured(): string {
    return this.text;
  }

  /** Last `n` lines (without the trailing partial-line noise of control characters). */
  tail(n = 40): string {
    const lines = this.text.replace(/\r/g, '').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n).join('\n');
  }

  onData(listener: () => void): () => void {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  onLine(listener: (line: string) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }
}

/** Strip ANSI escapes and carriage returns so regexes see what a human sees. */
export function cleanConsoleText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}
