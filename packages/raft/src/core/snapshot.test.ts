import { describe, expect, it } from 'vitest';
import { TestNetwork, bytes, logOf, msg } from './test-network.js';

describe('snapshots and log compaction', () => {
  it('a follower whose next entry was compacted away gets a MsgSnap and restores from it', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    for (let i = 0; i < 10; i++) net.propose('a', `v${i}`);
    const snapIndex = net.compact('a');
    expect(snapIndex).toBe(12);
    expect(net.get('a').storage.firstIndex()).toBe(13);
    net.propose('a', 'after');
    net.heal();
    net.tickAll(3);
    const snaps = net.sent.filter((m) => m.type === 'MsgSnap' && m.to === 'c');
    expect(snaps).toHaveLength(1);
    expect(snaps[0]!.snapshot!.meta.index).toBe(12);
    const c = net.get('c');
    expect(c.storage.snapshot().meta.index).toBe(12);
    expect(c.applied).toEqual([...Array.from({ length: 10 }, (_, i) => `v${i}`), 'after']);
    expect(logOf(c)).toEqual(logOf(net.get('a')));
    expect(net.get('a').node.status().progress!.c!.state).toBe('replicate');
  });

  it('a lost snapshot is sent again after an election timeout', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    for (let i = 0; i < 5; i++) net.propose('a', `v${i}`);
    net.compact('a');
    net.heal();
    let dropped = 0;
    net.filter = (m) => {
      if (m.type !== 'MsgSnap' || dropped > 0) return true;
      dropped++;
      return false;
    };
    for (let i = 0; i < 5 && dropped === 0; i++) net.tickAll(1);
    expect(dropped).toBe(1);
    expect(net.get('a').node.status().progress!.c!.state).toBe('snapshot');
    net.tickAll(15);
    expect(net.sent.filter((m) => m.type === 'MsgSnap')).toHaveLength(2);
    expect(net.get('c').applied).toEqual(net.get('a').applied);
  });

  it('a restarted follower recovers its state from its own snapshot and log', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    for (let i = 0; i < 5; i++) net.propose('a', `v${i}`);
    net.compact('b');
    net.propose('a', 'w');
    net.restart('b');
    net.propose('a', 'z');
    expect(net.get('b').applied).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'w', 'z']);
  });

  it('a snapshot older than what the follower has committed is not installed', () => {
    const net = new TestNetwork(['a', 'b']);
    net.elect('a');
    for (let i = 0; i < 3; i++) net.propose('a', `v${i}`);
    const b = net.get('b');
    const old = net.get('a').storage.createSnapshot(3, { voters: ['a', 'b'], learners: [] }, bytes('[]'));
    expect(old.ok).toBe(true);
    if (!old.ok) return;
    const term = b.node.status().hardState.term;
    b.node.step(msg({ type: 'MsgSnap', from: 'a', to: 'b', term, snapshot: old.snapshot }));
    const rd = net.processReady('b')!;
    expect(rd.snapshot).toBeUndefined();
    expect(rd.messages[0]).toMatchObject({ type: 'MsgAppResp', index: 5, reject: false });
  });
});
