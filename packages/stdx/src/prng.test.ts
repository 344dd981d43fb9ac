import { describe, expect, it } from 'vitest';
import { Prng } from './prng.js';

describe('Prng', () => {
  it('gives the same sequence for the same seed', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 100 }, () => a.nextUint32());
    const ys = Array.from({ length: 100 }, () => b.nextUint32());
    expect(xs).toEqual(ys);
  });

  it('gives different sequences for different seeds, including seeds above 2^32', () => {
    const xs = Array.from({ length: 8 }, (_, i) => new Prng(2 ** 40 + i).nextUint32());
    expect(new Set(xs).size).toBe(8);
  });

  it('keeps int() within its inclusive bounds and reaches both ends', () => {
    const p = new Prng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = p.int(3, 6);
      expect(v).toBeGreaterThanOrEqual(3);
      expect(v).toBeLessThanOrEqual(6);
      seen.add(v);
    }
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it('rejects an empty range and an empty pick', () => {
    const p = new Prng(1);
    expect(() => p.int(5, 4)).toThrow(/bad range/);
    expect(() => p.pick([])).toThrow(/empty/);
  });
});
