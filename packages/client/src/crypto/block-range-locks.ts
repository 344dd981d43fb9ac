/**
 * Exclusive locks on byte ranges, granted in the order they are asked for: a range waits for
 * every overlapping range asked for before it. An encrypted volume writes whole 4 KiB blocks, so
 * a write of part of a block reads the block, changes it and writes it back; these locks keep
 * another write to that block from landing in between (it would be lost), as a disk with 4 KiB
 * sectors does for 512-byte writes.
 */
export class BlockRangeLocks {
  private readonly held = new Set<{ readonly start: number; readonly end: number; readonly done: Promise<void> }>();

  /** Runs `fn` while holding [start, end). */
  async with<T>(start: number, end: number, fn: () => Promise<T>): Promise<T> {
    const before = [...this.held].filter((h) => h.start < end && start < h.end).map((h) => h.done);
    let release = (): void => undefined;
    const entry = { start, end, done: new Promise<void>((resolve) => { release = resolve; }) };
    this.held.add(entry);
    try {
      if (before.length > 0) await Promise.all(before);
      return await fn();
    } finally {
      this.held.delete(entry);
      release();
    }
  }

  /** Ranges held or waiting (for tests and metrics). */
  get size(): number {
    return this.held.size;
  }
}
