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
 *   than slowReadMs went to the disk; reads then go through the pool (where several can wait
 *   on the disk at once while the event loop serves others) for poolReadsMs, then inline is
 *   tried again.
 */
export class InlineIo {
  private poolReadsUntil = 0;
  /** Inline reads found slow (each sent reads to the pool for a while). */
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

  read(fd: number, length: number, position: number, what: string): Promise<Buffer> {
    if (length > this.maxBytes || this.now() < this.poolReadsUntil) {
      this.ops.pool++;
      return readFully(fd, length, position, what, 'pool');
    }
    this.ops.inline++;
    const started = this.now();
    const read = readFully(fd, length, position, what, 'inline');
    const ended = this.now();
    if (ended - started > this.slowReadMs) {
      this.slowReads++;
      this.poolReadsUntil = ended + this.poolReadsMs;
    }
    return read;
  }
}
