import { describe, expect, it } from 'vitest';
import { TestNetwork } from './test-network.js';

describe('pre-vote', () => {
  it('a partitioned node does not raise its term, so rejoining does not depose the leader', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: true });
    net.elect('a');
    net.isolate('c');
    net.tickAll(100);
    const c = net.get('c').node.status();
    expect(c.hardState.term).toBe(1);
    expect(c.softState.role).toBe('pre_candidate');
    net.heal();
    net.tickAll(5);
    expect(net.leaders()).toEqual(['a']);
    expect(net.get('a').node.status().hardState.term).toBe(1);
    expect(net.get('c').node.status().softState).toEqual({ leader: 'a', role: 'follower' });
  });

  it('without pre-vote the same partition does depose the leader (the problem pre-vote solves)', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    net.tickAll(100);
    expect(net.get('c').node.status().hardState.term).toBeGreaterThan(2);
    net.heal();
    net.tickAll(30);
    expect(net.get('a').node.status().hardState.term).toBeGreaterThan(1);
  });

  it('a pre-candidate that wins the pre-vote runs a real election in term + 1', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: true });
    const a = net.get('a');
    a.node.campaign();
    const rd = net.processReady('a')!;
    expect(rd.messages.map((m) => [m.type, m.term])).toEqual([
      ['MsgPreVote', 1],
      ['MsgPreVote', 1],
    ]);
    expect(a.node.status().hardState.term).toBe(0);
    net.stabilize();
    expect(net.leaders()).toEqual(['a']);
    expect(a.node.status().hardState.term).toBe(1);
  });

  it('a pre-vote is refused to a candidate whose log is behind, and nobody’s term moves', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: true });
    net.elect('a');
    net.isolate('c');
    net.propose('a', 'x');
    net.heal();
    // c's pre-vote reaches b and a; both have a longer log.
    net.get('c').node.campaign();
    net.stabilize();
    for (const tn of net.nodes.values()) expect(tn.node.status().hardState.term).toBe(1);
    expect(net.leaders()).toEqual(['a']);
  });
});
