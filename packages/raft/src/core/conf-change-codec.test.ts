import { describe, expect, it } from 'vitest';
import { decodeConfChange, encodeConfChange } from './conf-change-codec.js';
import type { ConfChange } from './types.js';

describe('conf change codec', () => {
  it('round-trips every type, with and without context', () => {
    const cases: ConfChange[] = [
      { type: 'AddNode', nodeId: 'n1' },
      { type: 'AddLearner', nodeId: 'ünïcode-id', context: new Uint8Array([1, 2, 3]) },
      { type: 'RemoveNode', nodeId: 'x'.repeat(300) },
    ];
    for (const cc of cases) expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
  });

  it('asserts on a corrupt record (it comes from our own log)', () => {
    const good = encodeConfChange({ type: 'AddNode', nodeId: 'n1' });
    expect(() => decodeConfChange(good.subarray(0, 5))).toThrow(/too short/);
    const badType = good.slice();
    badType[1] = 9;
    expect(() => decodeConfChange(badType)).toThrow(/type code/);
    const extra = new Uint8Array([...good, 0]);
    expect(() => decodeConfChange(extra)).toThrow(/length mismatch/);
  });
});
