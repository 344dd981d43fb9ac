import { assert } from '@basalt/stdx';

/**
 * A FIFO of received bytes. Chunks are kept as they arrived; `take` copies only when a
 * message spans chunks. Invariant: `length` is the sum of the unread bytes of `chunks`,
 * and `head` is the read position in `chunks[0]`.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /**
   * Removes and returns the next `n` bytes; the caller checks `length >= n` first. When they span
   * chunks they are copied into `alloc(n)` (default: a fresh buffer); a message inside one chunk
   * is returned as a view of it, without a copy.
   */
  take(n: number, alloc: (n: number) => Buffer = (k) => Buffer.allocUnsafe(k)): Buffer {
    if (n < 0 || n > this.total) assert(false, `take(${n}) with ${this.total} bytes queued`); // message built only on failure
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length - this.head >= n) return this.takeFromFirst(first, n);
    const out = alloc(n);
    assert(out.length === n, 'alloc(n) returns n bytes');
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      assert(chunk !== undefined, 'queue ran dry while its length said otherwise');
      const part = Math.min(n - filled, chunk.length - this.head);
      chunk.copy(out, filled, this.head, this.head + part);
      filled += part;
      this.advance(chunk, part);
    }
    return out;
  }

  /** Moves every queued byte, in order, to the start of `target`; returns how many there were. */
  drainInto(target: Buffer): number {
    const n = this.total;
    if (n > target.length) assert(false, `drainInto a buffer of ${target.length} bytes with ${n} queued`); // message built only on failure
    let filled = 0;
    this.chunks.forEach((chunk, i) => (filled += chunk.copy(target, filled, i === 0 ? this.head : 0)));
    this.chunks = [];
    this.head = 0;
    this.total = 0;
    return n;
  }

  /** Drops the next `n` bytes (an option too large to keep is skipped this way). */
  skip(n: number): void {
    assert(n >= 0 && n <= this.total, `skip(${n}) with ${this.total} bytes queued`);
    let left = n;
    while (left > 0) {
      const chunk = this.chunks[0];
      assert(chunk !== undefined, 'queue ran dry while its length said otherwise');
      const part = Math.min(left, chunk.length - this.head);
      this.advance(chunk, part);
      left -= part;
    }
  }

  private takeFromFirst(first: Buffer, n: number): Buffer {
    const out = first.subarray(this.head, this.head + n);
    this.advance(first, n);
    return out;
  }

  private advance(chunk: Buffer, n: number): void {
    this.head += n;
    this.total -= n;
    if (this.head === chunk.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}
