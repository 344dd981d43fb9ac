import { describe, expect, it } from 'vitest';
import { TestNetwork, msg } from './test-network.js';

describe('check-quorum', () => {
  it('a leader that has not heard from a quorum for an election timeout steps down', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { checkQuorum: true });
    net.elect('a');
    net.isolate('a');
    // Between 1 and 2 election timeouts: the first check may find the marks of before the cut.
    net.tickAll(20);
    const a = net.get('a').node.status();
    expect(a.softState.role).not.toBe('leader');
    net.tickAll(40);
    expect(a.softState.role).not.toBe('leader');
    const leadersElsewhere = net.leaders().filter((id) => id !== 'a');
    expect(leadersElsewhere).toHaveLength(1);
  });

  it('without check-quorum an isolated leader keeps believing it leads', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('a');
    net.tickAll(40);
    expect(net.get('a').node.status().softState.role).toBe('leader');
  });

  it('a leader with a quorum stays leader through many election timeouts', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { checkQuorum: true });
    net.elect('a');
    net.isolate('c');
    net.tickAll(100);
    expect(net.get('a').node.status().softState.role).toBe('leader');
    expect(net.get('a').node.status().hardState.term).toBe(1);
  });

  it('followers that hear a leader ignore a vote request with a higher term (leader lease)', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { checkQuorum: true });
    net.elect('a');
    net.tickAll(2);
    const b = net.get('b').node;
    b.step(msg({ type: 'MsgVote', from: 'c', to: 'b', term: 7, logTerm: 1, index: 2 }));
    expect(b.status().hardState.term).toBe(1);
    expect(b.hasReady()).toBe(false);
    // After an election timeout of silence the lease is over and the vote is granted.
    net.isolate('b');
    for (let i = 0; i < 10; i++) b.tick();
    b.step(msg({ type: 'MsgVote', from: 'c', to: 'b', term: 7, logTerm: 1, index: 2 }));
    expect(b.status().hardState).toMatchObject({ term: 7, vote: 'c' });
  });

  it('a stale leader learns the new term from the answer to its heartbeat (pre-vote on)', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: true });
    net.elect('a');
    net.isolate('a');
    net.tickAll(60);
    // Without check-quorum a still believes it leads term 1; b or c leads a newer term.
    expect(net.get('a').node.status().softState.role).toBe('leader');
    const leader = net.leaders().find((id) => id !== 'a')!;
    const term = net.get(leader).node.status().hardState.term;
    net.heal();
    net.tickAll(3);
    expect(net.get('a').node.status().hardState.term).toBe(term);
    expect(net.get('a').node.status().softState.leader).toBe(leader);
  });
});
