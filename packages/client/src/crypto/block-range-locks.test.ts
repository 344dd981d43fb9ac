import { describe, expect, it } from 'vitest';
import { BlockRangeLocks } from './block-range-locks.js';

/** A promise and the function that resolves it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => { open = resolve; });
  return { promise, open };
}

describe('block range locks', () => {
  it('runs an overlapping range only after the one asked for before it, and a disjoint one at once', async () => {
    const locks = new BlockRangeLocks();
    const order: string[] = [];
    const first = gate();
    const a = locks.with(0, 8192, async () => { order.push('a start'); await first.promise; order.push('a end'); });
    const b = locks.with(4096, 12288, () => { order.push('b'); return Promise.resolve(); });
    const c = locks.with(8192, 16384, () => { order.push('c'); return Promise.resolve(); });
    await new Promise((r) => setImmediate(r));
    // c overlaps b (asked before it), so it waits too; a disjoint one does not wait.
    await locks.with(16384, 20480, () => { order.push('d'); return Promise.resolve(); });
    expect(order).toEqual(['a start', 'd']);
    first.open();
    await Promise.all([a, b, c]);
    expect(order).toEqual(['a start', 'd', 'a end', 'b', 'c']);
    expect(locks.size).toBe(0);
  });

  it('releases a range whose work failed', async () => {
    const locks = new BlockRangeLocks();
    await expect(locks.with(0, 4096, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await locks.with(0, 4096, () => Promise.resolve(7))).toBe(7);
    expect(locks.size).toBe(0);
  });
});
