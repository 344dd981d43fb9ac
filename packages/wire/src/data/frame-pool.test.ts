import { describe, expect, it } from 'vitest';
import { KiB, MiB } from '@basalt/stdx';
import { FramePool } from './frame-pool.js';

describe('frame pool', () => {
  it('hands a given-back frame out again, and ignores buffers it did not make', () => {
    const pool = new FramePool(8 * MiB);
    const a = pool.take(MiB + 100)!;
    expect(a.length).toBe(MiB + 100);
    a.fill(1);
    pool.give(a);
    const b = pool.take(MiB + 5)!;
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(MiB + 5);
    pool.give(Buffer.alloc(2 * MiB)); // not ours: ignored
    const c = pool.take(MiB + 5)!;
    expect(c.buffer).not.toBe(b.buffer);
    expect(pool.take(64 * MiB)).toBeUndefined();
  });

  it('takes a frame back through any view into it, such as a reply\'s payload', () => {
    const pool = new FramePool(8 * MiB);
    const frame = pool.take(MiB + 64)!;
    pool.give(frame.subarray(64));
    expect(pool.take(MiB + 64)!.buffer).toBe(frame.buffer);
  });

  it('keeps at most its byte budget in the free lists', () => {
    const pool = new FramePool(4 * MiB);
    const frames = [pool.take(MiB + 1)!, pool.take(MiB + 1)!, pool.take(MiB + 1)!];
    for (const f of frames) pool.give(f); // 2 MiB each: only two fit
    const again = [pool.take(MiB + 1)!, pool.take(MiB + 1)!, pool.take(MiB + 1)!];
    const reused = again.filter((f) => frames.some((g) => g.buffer === f.buffer));
    expect(reused).toHaveLength(2);
    expect(pool.take(100 * KiB)!.length).toBe(100 * KiB);
  });
});
