/**
 * Terms and indexes are numbers, safe up to 2^53 - 1 (docs/raft.md explains why that is
 * enough). This runs a cluster whose terms and indexes start past 2^32, where 32-bit
 * arithmetic (`|0`, `>>> 0`, Uint32Array) would wrap.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from './memory-storage.js';
import { TestNetwork, bytes, logOf } from './test-network.js';

const base = 2 ** 32 + 5;

function storageAt(voters: string[]): MemoryStorage {
  const s = new MemoryStorage();
  const snap = { meta: { index: base, term: base, conf: { voters, learners: [] } }, data: new TextEncoder().encode('["seed"]') };
  expect(s.applySnapshot(snap)).toEqual({ ok: true });
  s.setHardState({ term: base, vote: '', commit: base });
  return s;
}

describe('terms and indexes past 2^32', () => {
  it('elects, replicates, repairs and snapshots with 33-bit terms and indexes', () => {
    const voters = ['a', 'b', 'c'];
    const net = new TestNetwork([]);
    for (const id of voters) net.add(id, storageAt(voters));
    net.elect('a');
    expect(net.get('a').node.status().hardState.term).toBe(base + 1);
    for (let i = 0; i < 5; i++) net.propose('a', `v${i}`);
    net.isolate('c');
    net.propose('a', 'w');
    net.compact('a');
    net.heal();
    net.tickAll(3);
    // Re-elections raise the term further.
    net.get('b').node.campaign();
    net.stabilize();
    net.tickAll(30);
    const leader = net.leaders()[0]!;
    net.propose(leader, 'z');
    for (const id of voters) {
      const tn = net.get(id);
      expect(tn.applied).toEqual(['seed', 'v0', 'v1', 'v2', 'v3', 'v4', 'w', 'z']);
      expect(tn.node.status().hardState.commit).toBeGreaterThan(base + 7);
      expect(tn.node.status().hardState.term).toBeGreaterThan(base + 1);
    }
    const lastOf = (id: string): [number, number] => logOf(net.get(id)).at(-1)!;
    expect(lastOf('c')).toEqual(lastOf(leader));
    expect(lastOf('c')[1]).toBeGreaterThan(2 ** 32);
    expect(net.get(leader).node.propose(bytes('q'))).toMatchObject({ ok: true, index: base + 10 });
  });

  it('asserts rather than wraps when a term would pass 2^53 - 1', () => {
    const s = new MemoryStorage();
    s.applySnapshot({ meta: { index: 1, term: 1, conf: { voters: ['a', 'b'], learners: [] } }, data: new Uint8Array() });
    s.setHardState({ term: Number.MAX_SAFE_INTEGER, vote: '', commit: 1 });
    const net = new TestNetwork([]);
    const a = net.add('a', s);
    expect(() => a.node.campaign()).toThrow(/must be a safe integer/);
  });
});
