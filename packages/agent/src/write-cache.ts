import { AssertionError, BasaltError, ErrorCode, isBasaltError } from '@basalt/stdx';
import type { BlockDevice, Extent } from './block-device.js';

/**
 * The agent's write-back cache: a BlockDevice wrapper that acknowledges a plain WRITE as soon as
 * it is accepted and stores it in the background, the way a disk with a volatile write cache
 * does (NBD advertises FLUSH and FUA, so clients know to use them). It turns one write round
 * trip through every replica into one agent round trip for queue-depth-1 writers.
 *
 * Modes (docs/nbd.md):
 * - 'writethrough' (default): every write is stored on every replica before it is acknowledged,
 *   so an acknowledged write survives the crash of any process (DESIGN.md's contract).
 * - 'writeback': plain writes are acknowledged once accepted; the writes acknowledged since the
 *   last FLUSH are lost if the agent process dies (opt-in, docs/design-notes.md).
 * - 'auto': write-through until the first FLUSH on the volume, then write-back (the rule librbd
 *   uses): a client that never flushes never gets an early acknowledgement.
 *
 * Invariants:
 * - FLUSH resolves only after every write acknowledged before it is stored and the inner
 *   device flushed; FUA writes, TRIM and WRITE_ZEROES are never cached.
 * - Any operation on a range waits for the cached writes overlapping it (read-your-writes on
 *   every connection; overlapping writes are stored in acknowledgement order).
 * - Cached writes hold at most the shared budget (bytes and count, over all volumes); beyond
 *   it, writes are stored before they are acknowledged.
 * - A cached write that fails cannot be reported to its request any more: the error is kept,
 *   every later FLUSH (and close) fails with it, and the device stops caching.
 */
export type WriteCacheMode = 'auto' | 'writeback' | 'writethrough';

export const writeCacheModes: readonly WriteCacheMode[] = ['writethrough', 'auto', 'writeback'];

/** Room for cached writes, shared by every volume of one agent. */
export class WriteCacheBudget {
  bytes = 0;
  writes = 0;

  constructor(
    readonly bytesMax: number,
    readonly writesMax: number,
  ) {}

  fits(length: number): boolean {
    return this.bytes + length <= this.bytesMax && this.writes < this.writesMax;
  }
}

interface Cached {
  readonly start: number;
  readonly end: number;
  done: Promise<void>;
}

export class WriteBackDevice implements BlockDevice {
  private readonly cached = new Set<Cached>();
  private caching: boolean;
  private failure: BasaltError | undefined;

  constructor(
    private readonly inner: BlockDevice,
    private readonly mode: WriteCacheMode,
    private readonly budget: WriteCacheBudget,
    /** Called once, when a cached write failed (the agent logs it and counts it). */
    private readonly onFailure: (err: BasaltError) => void,
  ) {
    this.caching = mode === 'writeback';
    if (inner.refreshSize !== undefined) this.refreshSize = () => inner.refreshSize!();
    if (inner.recycle !== undefined) this.recycle = (data) => inner.recycle!(data);
    if (inner.writeBuffer !== undefined) this.writeBuffer = (length) => inner.writeBuffer!(length);
  }

  readonly refreshSize?: () => Promise<number>;
  /** Reads come from the inner device unchanged, so their buffers go back to it. */
  readonly recycle?: (data: Buffer) => void;
  /** Every write reaches the inner device with its payload, which takes it back once stored (a cached write too). */
  readonly writeBuffer?: (length: number) => Buffer;

  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.after(offset, offset + length, () => this.inner.read(offset, length));
  }

  write(offset: number, data: Buffer, options: { fua: boolean }): Promise<void> {
    const store = (): Promise<void> => this.inner.write(offset, data, options);
    if (options.fua || !this.caching || !this.budget.fits(data.length)) return this.after(offset, offset + data.length, store);
    const entry: Cached = { start: offset, end: offset + data.length, done: Promise.resolve() };
    const stored = this.after(offset, offset + data.length, store);
    this.cached.add(entry);
    this.budget.bytes += data.length;
    this.budget.writes++;
    entry.done = stored.then(undefined, (err: unknown) => this.fail(err)).finally(() => {
      this.cached.delete(entry);
      this.budget.bytes -= data.length;
      this.budget.writes--;
    });
    return Promise.resolve();
  }

  async flush(): Promise<void> {
    if (this.mode === 'auto' && this.failure === undefined) this.caching = true;
    await this.drain();
    await this.inner.flush();
  }

  trim(offset: number, length: number): Promise<void> {
    return this.after(offset, offset + length, () => this.inner.trim(offset, length));
  }

  writeZeroes(offset: number, length: number, options: { noHole: boolean; fastOnly: boolean }): Promise<void> {
    return this.after(offset, offset + length, () => this.inner.writeZeroes(offset, length, options));
  }

  allocation(offset: number, length: number, options?: { coarse?: boolean }): Promise<Extent[]> {
    return this.after(offset, offset + length, () => this.inner.allocation(offset, length, options));
  }

  /** Stores every cached write, then closes the inner device; fails if a cached write failed. */
  async close(): Promise<void> {
    await Promise.all([...this.cached].map((c) => c.done));
    await this.inner.close();
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits for every cached write; throws the kept failure of one that could not be stored. */
  private async drain(): Promise<void> {
    await Promise.all([...this.cached].map((c) => c.done));
    if (this.failure !== undefined) throw this.failure;
  }

  /** Runs op once the cached writes overlapping [start, end) are stored (at once when there are none). */
  private after<T>(start: number, end: number, op: () => Promise<T>): Promise<T> {
    let waits: Promise<void>[] | undefined;
    for (const c of this.cached) {
      if (c.start < end && start < c.end) (waits ??= []).push(c.done);
    }
    return waits === undefined ? op() : Promise.all(waits).then(op);
  }

  private fail(err: unknown): void {
    if (err instanceof AssertionError) throw err; // a bug: let it crash the agent, not hide in a FLUSH error
    if (this.failure !== undefined) return;
    const code = isBasaltError(err) ? err.code : ErrorCode.Io;
    this.failure = new BasaltError(code, `a write acknowledged from the write-back cache could not be stored: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    this.caching = false;
    this.onFailure(this.failure);
  }
}
