import { describe, expect, it } from 'vitest';
import { uncoveredRanges } from './snapshot-transfer.js';

const r = (offset: number, length: number): { offset: number; length: number } => ({ offset, length });

describe('the parts of a target\'s changes that a diff does not write', () => {
  it('keeps what no diff range holds, cutting ranges that are partly held', () => {
    expect(uncoveredRanges([r(0, 10)], [])).toEqual([r(0, 10)]);
    expect(uncoveredRanges([r(0, 10)], [r(0, 10)])).toEqual([]);
    expect(uncoveredRanges([r(0, 10), r(20, 10)], [r(5, 20)])).toEqual([r(0, 5), r(25, 5)]);
    expect(uncoveredRanges([r(0, 30)], [r(5, 5), r(15, 5)])).toEqual([r(0, 5), r(10, 5), r(20, 10)]);
    expect(uncoveredRanges([r(10, 5)], [r(0, 5), r(20, 5)])).toEqual([r(10, 5)]);
  });
});
