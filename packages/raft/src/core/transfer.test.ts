import { describe, expect, it } from 'vitest';
import { TestNetwork, bytes } from './test-network.js';

describe('leadership transfer', () => {
  it('the leader catches the transferee up, sends MsgTimeoutNow, and the transferee wins the next term', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: true, checkQuorum: true });
    net.elect('a');
    net.isolate('c');
    net.propose('a', 'x');
    net.heal();
    expect(net.get('a').node.transferLeader('c')).toEqual({ ok: true });
    net.stabilize();
    expect(net.sent.some((m) => m.type === 'MsgTimeoutNow' && m.to === 'c')).toBe(true);
    expect(net.leaders()).toEqual(['c']);
    expect(net.get('c').node.status().hardState.term).toBe(2);
    expect(net.get('c').applied).toEqual(['x']);
  });

  it('proposals are refused as dropped while a transfer is in progress, then it is abandoned after an election timeout', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    expect(net.get('a').node.transferLeader('c')).toEqual({ ok: true });
    net.stabilize();
    expect(net.get('a').node.propose(bytes('y'))).toEqual({ ok: false, reason: 'dropped' });
    expect(net.get('a').node.status().leadTransferee).toBe('c');
    net.tickAll(10);
    expect(net.get('a').node.status().leadTransferee).toBe('');
    expect(net.get('a').node.propose(bytes('y')).ok).toBe(true);
  });

  it('refuses with returned values: not leader, self, non-members and learners', () => {
    const net = new TestNetwork(['a', 'b'], {}, 1, ['l']);
    net.elect('a');
    expect(net.get('b').node.transferLeader('b')).toEqual({ ok: false, reason: 'not_leader', leaderHint: 'a' });
    expect(net.get('a').node.transferLeader('a')).toEqual({ ok: false, reason: 'already_leader' });
    expect(net.get('a').node.transferLeader('zz')).toEqual({ ok: false, reason: 'not_a_voter' });
    expect(net.get('a').node.transferLeader('l')).toEqual({ ok: false, reason: 'not_a_voter' });
  });

  it('a transferee’s election is answered even by followers in a leader lease', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { checkQuorum: true });
    net.elect('a');
    net.tickAll(1);
    net.get('a').node.transferLeader('b');
    net.stabilize();
    expect(net.leaders()).toEqual(['b']);
  });
});
