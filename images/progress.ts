/**
 * Download progress: the downloader reports numbers, a sink decides how to show them. The image
 * code never writes to stdout itself — the CLI and the runner own the terminal.
 */

export interface TransferProgress {
  /** What is being transferred, e.g. "fcos-stable 42.20250803.3.0". */
  label: string;
  /** Bytes of the whole artifact now on disk (including a resumed prefix). */
  bytes: number;
  /** Total size when the server said so. */
  total?: number;
  /** Bytes per second over the transfer so far (this attempt). */
  rateBps: number;
  etaSeconds?: number;
  done: boolean;
}

export type ProgressSink = (p: TransferProgress) => void;

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? String(v) : v.toFixed(1)} ${units[i]}`;
}

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatProgress(p: TransferProgress): string {
  const amount = p.total ? `${formatBytes(p.bytes)} / ${formatBytes(p.total)} (${Math.floor((100 * p.bytes) / p.total)}%)` : formatBytes(p.bytes);
  const rate = `${formatBytes(p.rateBps)}/s`;
  if (p.done) return `${p.label}: ${amount} done`;
  return `${p.label}: ${amount} at ${rate}${p.etaSeconds !== undefined ? `, ETA ${formatDuration(p.etaSeconds)}` : ''}`;
}

/**
 * A sink that renders progress as text: on a TTY one line rewritten in place (at most ~4 times a
 * second); otherwise a plain line every `intervalMs` (CI logs must not fill with carriage returns).
 */
export function textProgress(write: (text: string) => void, isTTY: boolean, intervalMs = isTTY ? 250 : 10_000): ProgressSink {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (!p.done && now - last < intervalMs) return;
    last = now;
    if (isTTY) {
      write(`\r\x1b[2K${formatProgress(p)}${p.done ? '\n' : ''}`);
    } else {
      write(`${formatProgress(p)}\n`);
    }
  };
}

/** Rate/ETA bookkeeping for one transfer attempt. */
export class ProgressMeter {
  private readonly started = Date.now();
  private lastEmit = 0;

  constructor(
    private readonly label: string,
    private readonly sink: ProgressSink | undefined,
    private readonly startBytes: number,
    private readonly total: number | undefined,
    private readonly everyMs = 200,
  ) {}

  update(bytes: number, done = false): void {
    if (!this.sink) return;
    const now = Date.now();
    if (!done && now - this.lastEmit < this.everyMs) return;
    this.lastEmit = now;
    const elapsed = Math.max(0.001, (now - this.started) / 1000);
    const rateBps = Math.round((bytes - this.startBytes) / elapsed);
    const etaSeconds = this.total && rateBps > 0 ? (this.total - bytes) / rateBps : undefined;
    this.sink({ label: this.label, bytes, total: this.total, rateBps, etaSeconds, done });
  }
}
