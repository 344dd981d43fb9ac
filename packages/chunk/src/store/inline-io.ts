import { readFully, writeFully } from './fs-io.js';

/**
 * Decides which small reads and writes of extent files run inline, as a synchronous
 * pread/pwrite on the event loop, instead of in libuv's thread pool.
 *
 * Why: a 4 KiB pwrite into the page cache costs about 6 µs of CPU inline and about 38 µs
 * through the thread pool (measured on the project machine: a futex wake of a pool thread, an
 * eventfd wake of the event loop, and the promise hops), and the pool adds two thread wake-ups
 * of latency. A replicated 4 KiB write does this twice (sidecar, data) on every replica, on the
 * critical path.
 *
 * Rules (`maxBytes` 0 turns inline I/O off):
 * - writes up to maxBytes run inline. A buffered write ends in the page cache; it blocks only
 *   under dirty-page throttling, where the pool's writes would wait just as long.
 * - reads up to maxBytes run inline while the page cache serves them. An inline read slower
 *   than slowReadMs probably went to the disk; when slowReadsToPool of the last
 *   readWindow inline reads were slow, reads go through the pool (where several can wait on
 *   the disk at once while the event loop serves others) for poolReadsMs, then inline is tried
 *   again. One slow read alone does not switch: on a shared machine a page-cache read is
 *   sometimes slow because the process was descheduled during it (measured here: 15-18 of
 *   ~20k reads per server in a 3 s fio run, each of which used to send reads to the pool for a
 *   second, most of the run).
 */
const readWindow = 32;
const slowReadsToPool = 4;

export class InlineIo {
  private poolReadsUntil = 0;
  /** The last readWindow inline reads: 1 = slow. */
  private readonly recent = new Uint8Array(readWindow);
  private recentNext = 0;
  private recentSlow = 0;
  /** Inline reads found slow. */
  slowReads = 0;
  /** Reads and writes run in each mode. */
  readonly ops = { inline: 0, pool: 0 };

  constructor(
    readonly maxBytes: number,
    private readonly now: () => number = () => performance.now(),
    private readonly slowReadMs = 0.2,
    private readonly poolReadsMs = 1000,
  ) {}

  write(fd: number, buf: Uint8Array, position: number, what: string): Promise<void> {
    const mode = buf.length <= this.maxBytes ? 'inline' : 'pool';
    this.ops[mode]++;
    return writeFully(fd, buf, position, what, mode);
  }

  /** Reads into `into` (of exactly `length` bytes) when given, else into a fresh buffer. */
  read(fd: number, length: number, position: number, what: string, into?: Buffer): Promise<Buffer> {
    if (length > this.maxBytes || this.now() < this.poolReadsUntil) {
      this.ops.pool++;
      return readFully(fd, length, position, what, 'pool', into);
    }
    this.ops.inline++;
    const started = this.now();
    const read = readFully(fd, length, position, what, 'inline', into);
    const ended = this.now();
    this.record(ended - started > this.slowReadMs, ended);
    return read;
  }

  private record(slow: boolean, now: number): void {
    if (slow) this.slowReads++;
    this.recentSlow += (slow ? 1 : 0) - this.recent[this.recentNext]!;
    this.recent[this.recentNext] = slow ? 1 : 0;
    this.recentNext = (this.recentNext + 1) % readWindow;
    if (this.recentSlow < slowReadsToPool) return;
    this.poolReadsUntil = now + this.poolReadsMs;
    this.recent.fill(0);
    this.recentSlow = 0;
  }
}
