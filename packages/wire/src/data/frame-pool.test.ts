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

  it('adopts a buffer another thread\'s pool handed out, and hands it out again as its own', () => {
    const theirs = new FramePool(8 * MiB);
    const ours = new FramePool(8 * MiB);
    const frame = theirs.take(MiB)!;
    const ab = frame.buffer as ArrayBuffer;
    const moved = structuredClone(ab, { transfer: [ab] });
    expect(ours.owns(Buffer.from(moved))).toBe(false);
    ours.adopt(moved);
    const again = ours.take(MiB)!;
    expect(again.buffer).toBe(moved);
    expect(ours.owns(again.subarray(10))).toBe(true);
    expect(theirs.owns(again)).toBe(false);
    expect(() => ours.adopt(new ArrayBuffer(MiB))).toThrow(/class size/);
  });

  it('keeps at most its byte budget in the free lists', () => {
    const pool = new FramePool(4 * MiB);
    const frames = [pool.take(2 * MiB)!, pool.take(2 * MiB)!, pool.take(2 * MiB)!];
    for (const f of frames) pool.give(f); // 2 MiB + 16 KiB each: only one fits
    const again = [pool.take(2 * MiB)!, pool.take(2 * MiB)!, pool.take(2 * MiB)!];
    const reused = again.filter((f) => frames.some((g) => g.buffer === f.buffer));
    expect(reused).toHaveLength(1);
    expect(pool.take(100 * KiB)!.length).toBe(100 * KiB);
  });

  it('sizes a frame of 2^k data bytes with its header and CRCs at 2^k plus 1/128, not at 2^(k+1)', () => {
    const pool = new FramePool(64 * MiB);
    const crcsAndHeader = (data: number): number => data / KiB + 100;
    expect(pool.take(MiB + crcsAndHeader(MiB))!.buffer.byteLength).toBe(MiB + 8 * KiB);
    expect(pool.take(MiB)!.buffer.byteLength).toBe(MiB + 8 * KiB);
    expect(pool.take(MiB + 8 * KiB + 1)!.buffer.byteLength).toBe(2 * MiB + 16 * KiB);
    expect(pool.take(64 * KiB + crcsAndHeader(64 * KiB))!.buffer.byteLength).toBe(64 * KiB + 512);
    expect(pool.take(100)!.buffer.byteLength).toBe(64 * KiB + 512);
    expect(pool.take(8 * MiB + 64 * KiB)!.buffer.byteLength).toBe(8 * MiB + 64 * KiB);
    expect(pool.take(8 * MiB + 64 * KiB + 1)).toBeUndefined();
  });

  it('never holds more than its byte budget, however many frames come back', () => {
    const budget = 16 * MiB;
    const pool = new FramePool(budget);
    const sizes = [MiB, MiB + 2 * KiB, 64 * KiB, 300 * KiB, 4 * MiB];
    const out = Array.from({ length: 64 }, (_, i) => pool.take(sizes[i % sizes.length]!)!);
    for (const f of out) pool.give(f);
    const held = new Set<ArrayBuffer>();
    for (let i = 0; i < 64; i++) {
      const f = pool.take(sizes[i % sizes.length]!)!;
      if (out.some((g) => g.buffer === f.buffer)) held.add(f.buffer as ArrayBuffer);
    }
    const heldBytes = [...held].reduce((sum, ab) => sum + ab.byteLength, 0);
    expect(heldBytes).toBeGreaterThan(budget / 2);
    expect(heldBytes).toBeLessThanOrEqual(budget);
  });
});
