import { describe, expect, it } from 'vitest';
import { Prng } from '@basalt/stdx';
import { singleSlice, splitByExtent } from './split.js';

describe('splitByExtent', () => {
  it('cuts a range that crosses two extent boundaries into three slices', () => {
    expect(splitByExtent(900, 1300, 1024)).toEqual([
      { index: 0, offset: 900, length: 124, bufferOffset: 0 },
      { index: 1, offset: 0, length: 1024, bufferOffset: 124 },
      { index: 2, offset: 0, length: 152, bufferOffset: 1148 },
    ]);
  });

  it('returns nothing for an empty range', () => {
    expect(splitByExtent(5000, 0, 1024)).toEqual([]);
  });

  it('covers every byte exactly once for random ranges', () => {
    const prng = new Prng(3);
    for (let i = 0; i < 500; i++) {
      const extent = 2 ** prng.int(6, 12);
      const offset = prng.int(0, 10_000);
      const length = prng.int(0, 10_000);
      const slices = splitByExtent(offset, length, extent);
      let next = 0;
      for (const s of slices) {
        expect(s.bufferOffset).toBe(next);
        expect(s.index * extent + s.offset).toBe(offset + s.bufferOffset);
        expect(s.offset + s.length).toBeLessThanOrEqual(extent);
        expect(s.length).toBeGreaterThan(0);
        next += s.length;
      }
      expect(next).toBe(length);
    }
  });
});

describe('singleSlice', () => {
  it('is the one slice splitByExtent makes when that slice fits one request, else undefined', () => {
    const prng = new Prng(5);
    for (let i = 0; i < 2000; i++) {
      const extent = 2 ** prng.int(6, 12);
      const max = prng.int(1, 2 * extent);
      const offset = prng.int(0, 10_000);
      const length = prng.int(0, 3 * extent);
      const slices = splitByExtent(offset, length, extent);
      const expected = slices.length === 1 && length <= max ? slices[0] : undefined;
      expect(singleSlice(offset, length, extent, max)).toEqual(expected);
    }
  });

  it('takes a range that ends exactly at an extent boundary and refuses one byte more', () => {
    expect(singleSlice(1000, 24, 1024, 4096)).toEqual({ index: 0, offset: 1000, length: 24, bufferOffset: 0 });
    expect(singleSlice(1000, 25, 1024, 4096)).toBeUndefined();
    expect(singleSlice(2048, 0, 1024, 4096)).toBeUndefined();
  });
});
