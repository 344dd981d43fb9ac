import { describe, expect, it } from 'vitest';
import { TestNetwork } from './test-network.js';
import type { UnsafeTestingKnobs } from './types.js';

/** metad's settings: pre-vote and check-quorum on; an election timeout of 10 ticks here. */
function cluster(knobs: UnsafeTestingKnobs = {}): TestNetwork {
  const net = new TestNetwork(['a', 'b', 'c'], { preVote: true, checkQuorum: true, unsafeTestingKnobs: knobs });
  net.elect('a');
  net.tickAll(2);
  return net;
}

/** The leader's process dies: nothing reaches it or leaves it any more. */
function kill(net: TestNetwork, id: string): void {
  net.remove(id);
  net.queue = net.queue.filter((m) => m.from !== id && m.to !== id);
}

function preVotesFrom(net: TestNetwork, id: string): number {
  return net.sent.filter((m) => m.type === 'MsgPreVote' && m.from === id).length;
}

describe('reportLeaderUnreachable', () => {
  it('after the leader dies and both followers hear of it, the first-ranked one leads at its next tick', () => {
    const net = cluster();
    kill(net, 'a');
    expect(net.get('b').node.reportLeaderUnreachable('a')).toBe(true);
    expect(net.get('c').node.reportLeaderUnreachable('a')).toBe(true);
    net.tickAll(1);
    expect(net.leaders()).toEqual(['b']);
    expect(net.get('b').node.status().hardState.term).toBe(2);
    expect(net.get('c').node.status().softState).toEqual({ leader: 'b', role: 'follower' });
    // c's own fast campaign (rank 1) was cancelled by b's election: no second one follows.
    net.tickAll(5);
    expect(preVotesFrom(net, 'c')).toBe(0);
    expect(net.get('b').node.status().hardState.term).toBe(2);
  });

  it('without a report the followers wait for the election timeout', () => {
    const net = cluster();
    kill(net, 'a');
    net.tickAll(5);
    expect(net.leaders()).toEqual([]);
    expect(preVotesFrom(net, 'b') + preVotesFrom(net, 'c')).toBe(0);
  });

  it('when the first-ranked follower cannot win (its log is behind), the next rank takes over', () => {
    const net = cluster();
    net.filter = (m) => !(m.type === 'MsgApp' && m.to === 'b');
    net.propose('a', 'x');
    net.heal();
    kill(net, 'a');
    net.get('b').node.reportLeaderUnreachable('a');
    net.get('c').node.reportLeaderUnreachable('a');
    net.tickAll(1);
    expect(net.leaders()).toEqual([]);
    net.tickAll(2);
    expect(net.leaders()).toEqual(['c']);
    expect(net.get('c').node.status().hardState.term).toBe(2);
  });

  it('a false report to one follower costs one ignored pre-vote: the leader keeps its term', () => {
    const net = cluster();
    const before = net.sent.length;
    net.get('b').node.reportLeaderUnreachable('a');
    // b campaigns before a's next heartbeat could cancel it.
    net.get('b').node.tick();
    net.stabilize();
    expect(preVotesFrom(net, 'b')).toBe(2);
    const answers = net.sent.slice(before).filter((m) => m.type === 'MsgPreVoteResp');
    expect(answers).toEqual([]);
    net.tickAll(20);
    expect(net.leaders()).toEqual(['a']);
    for (const tn of net.nodes.values()) expect(tn.node.status().hardState.term).toBe(1);
    expect(net.get('b').node.status().softState).toEqual({ leader: 'a', role: 'follower' });
  });

  it('without the leader lease the same false report deposes the healthy leader (what the lease prevents)', () => {
    const net = cluster({ voteDuringLease: true });
    net.get('b').node.reportLeaderUnreachable('a');
    net.get('b').node.tick();
    net.stabilize();
    expect(net.leaders()).toEqual(['b']);
    expect(net.get('a').node.status().hardState.term).toBe(2);
  });

  it('a message from the leader after a false report restores the lease and cancels the campaign', () => {
    const net = cluster();
    const b = net.get('b').node;
    b.reportLeaderUnreachable('a');
    expect(b.status().softState.leader).toBe('');
    net.get('a').node.tick();
    net.stabilize();
    expect(b.status().softState.leader).toBe('a');
    for (let i = 0; i < 5; i++) b.tick();
    net.stabilize();
    expect(preVotesFrom(net, 'b')).toBe(0);
  });

  it('a report about a node that is not this follower’s leader changes nothing', () => {
    const net = cluster();
    const b = net.get('b').node;
    expect(b.reportLeaderUnreachable('c')).toBe(false);
    expect(b.status().softState).toEqual({ leader: 'a', role: 'follower' });
    const leader = net.get('a').node;
    expect(leader.reportLeaderUnreachable('b')).toBe(false);
    expect(leader.status().softState.role).toBe('leader');
    net.tickAll(5);
    expect(preVotesFrom(net, 'b')).toBe(0);
    expect(net.leaders()).toEqual(['a']);
  });
});
