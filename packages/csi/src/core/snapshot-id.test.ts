import { describe, expect, it } from 'vitest';
import { pageStart, parseSnapshotId, snapshotId } from './snapshot-id.js';

describe('CSI snapshot ids', () => {
  it('round-trips volume@snapshot and refuses ids that are not one', () => {
    expect(parseSnapshotId(snapshotId('pvc-1', 'snapshot-2'))).toEqual({ volume: 'pvc-1', snapshot: 'snapshot-2' });
    for (const bad of ['', '@s', 'v@', 'v', 'a@b@c']) expect(parseSnapshotId(bad), bad).toBeUndefined();
  });

  it('reads page tokens within the list and refuses others', () => {
    expect(pageStart('', 3)).toBe(0);
    expect(pageStart('2', 3)).toBe(2);
    expect(pageStart('4', 3)).toBeUndefined();
    expect(pageStart('x', 3)).toBeUndefined();
  });
});
