import { formatBytes } from './args.js';

/**
 * A progress line on stderr for long copies: bytes done, percent, MB/s and ETA. On a terminal it
 * redraws one line (at most every 200 ms); otherwise it prints a line every 5 s, so logs stay short.
 */
export class Progress {
  private readonly startMs = Date.now();
  private lastMs = 0;
  private done = 0;

  constructor(
    private readonly label: string,
    private readonly totalBytes: number,
    private readonly write: (text: string) => void,
    private readonly tty: boolean,
  ) {}

  add(bytes: number): void {
    this.done += bytes;
    const now = Date.now();
    if (now - this.lastMs < (this.tty ? 200 : 5000)) return;
    this.lastMs = now;
    this.write(this.tty ? `\r${this.line(now)}\x1b[K` : `${this.line(now)}\n`);
  }

  /** Prints the final line. */
  finish(): void {
    const line = this.line(Date.now());
    this.write(this.tty ? `\r${line}\x1b[K\n` : `${line}\n`);
  }

  private line(now: number): string {
    const seconds = Math.max(0.001, (now - this.startMs) / 1000);
    const rate = this.done / seconds;
    const pct = this.totalBytes === 0 ? 100 : (100 * this.done) / this.totalBytes;
    const eta = rate > 0 ? (this.totalBytes - this.done) / rate : 0;
    const width = 24;
    const filled = Math.min(width, Math.round((pct / 100) * width));
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mib(this.done)}/${formatBytesShort(this.totalBytes)} ${pct.toFixed(1)}% ${(rate / 1e6).toFixed(1)} MB/s ETA ${eta.toFixed(0)}s`;
  }
}

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)}MiB`;
}

function formatBytesShort(n: number): string {
  return n % 2 ** 20 === 0 ? formatBytes(n) : mib(n);
}
