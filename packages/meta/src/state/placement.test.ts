import { describe, expect, it } from 'vitest';
import { placeReplicas, type PlacementCandidate } from './placement.js';

const server = (id: string, zone: string, freeBytes = 100, extentCount = 0): PlacementCandidate => ({ id, zone, freeBytes, extentCount });

describe('placeReplicas', () => {
  it('takes one server per zone first, the best of each zone, best first', () => {
    const candidates = [server('a1', 'a', 50), server('a2', 'a', 90), server('b1', 'b', 70), server('c1', 'c', 10)];
    expect(placeReplicas({ candidates, count: 3, existing: [] })).toEqual(['a2', 'b1', 'c1']);
  });

  it('fills from reused zones only when the zones run out', () => {
    const candidates = [server('a1', 'a', 50), server('a2', 'a', 90), server('b1', 'b', 70)];
    expect(placeReplicas({ candidates, count: 3, existing: [] })).toEqual(['a2', 'b1', 'a1']);
  });

  it('breaks ties by fewer extents, then by id, whatever the input order', () => {
    const candidates = [server('z', 'a'), server('y', 'b', 100, 3), server('x', 'c'), server('w', 'd', 100, 3)];
    const plan = placeReplicas({ candidates, count: 3, existing: [] });
    expect(plan).toEqual(['x', 'z', 'w']);
    expect(placeReplicas({ candidates: [...candidates].reverse(), count: 3, existing: [] })).toEqual(plan);
  });

  it('returns null when fewer servers are eligible than replicas wanted', () => {
    expect(placeReplicas({ candidates: [server('a', 'a'), server('b', 'b')], count: 3, existing: [] })).toBeNull();
  });

  it('re-replication seam: never picks an existing replica and avoids the zones the survivors use', () => {
    const a1 = server('a1', 'a');
    const b1 = server('b1', 'b');
    const candidates = [a1, b1, server('a2', 'a', 500), server('b2', 'b', 400), server('c1', 'c', 1)];
    expect(placeReplicas({ candidates, count: 1, existing: [a1, b1] })).toEqual(['c1']);
    expect(placeReplicas({ candidates, count: 2, existing: [a1, b1] })).toEqual(['c1', 'a2']);
    expect(placeReplicas({ candidates: [a1, b1], count: 1, existing: [a1, b1] })).toBeNull();
  });
});
