import { describe, expect, it } from 'vitest';
import { blockRuns } from './block-runs.js';

const zero = 0xabcd;
function stamps(blocks: ('never' | 'data' | 'zeroed')[]) {
  return {
    epochs: Uint32Array.from(blocks.map((b) => (b === 'never' ? 0 : 3))),
    seqs: Uint32Array.from(blocks.map((b, i) => (b === 'never' ? 0 : i + 1))),
    crcs: Uint32Array.from(blocks.map((b) => (b === 'data' ? 0x1234 : zero))),
  };
}

describe('block runs from stamps', () => {
  it('merges neighbours and marks never-written and zeroed blocks as holes', () => {
    expect(blockRuns(stamps(['never', 'never', 'data', 'data', 'zeroed', 'data']), 0, 4096, zero, 0, 6 * 4096)).toEqual([
      { offset: 0, length: 8192, hole: true },
      { offset: 8192, length: 8192, hole: false },
      { offset: 16384, length: 4096, hole: true },
      { offset: 20480, length: 4096, hole: false },
    ]);
  });

  it('clips the first and last block to the range asked for', () => {
    expect(blockRuns(stamps(['data', 'never', 'data']), 8192, 4096, zero, 8192 + 100, 8192 + 3 * 4096 - 7)).toEqual([
      { offset: 8292, length: 4096 - 100, hole: false },
      { offset: 12288, length: 4096, hole: true },
      { offset: 16384, length: 4096 - 7, hole: false },
    ]);
  });

  it('a data block with a stamp of unknown age (0, 1) is data', () => {
    const s = { epochs: Uint32Array.of(0), seqs: Uint32Array.of(1), crcs: Uint32Array.of(0x99) };
    expect(blockRuns(s, 0, 4096, zero, 0, 4096)).toEqual([{ offset: 0, length: 4096, hole: false }]);
  });
});
