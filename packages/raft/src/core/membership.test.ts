import { describe, expect, it } from 'vitest';
import { MemoryStorage } from './memory-storage.js';
import { TestNetwork, bytes } from './test-network.js';
import type { ConfChange } from './types.js';

/** Proposes a conf change on `leader` and settles; returns the proposal's result. */
function change(net: TestNetwork, leader: string, cc: ConfChange): void {
  const res = net.get(leader).node.proposeConfChange(cc);
  expect(res.ok).toBe(true);
  net.stabilize();
}

describe('membership change, one server at a time', () => {
  it('adds a voter: the new node catches up and then counts towards the quorum', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    net.add('d', new MemoryStorage());
    change(net, 'a', { type: 'AddNode', nodeId: 'd' });
    net.tickAll(2);
    for (const tn of net.nodes.values()) expect(tn.conf).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    expect(net.get('d').applied).toEqual(['x']);
    // 4 voters: a quorum is 3, so with b and c down nothing commits.
    net.isolate('b');
    net.isolate('c');
    net.get('a').node.propose(bytes('y'));
    net.stabilize();
    expect(net.get('a').applied).toEqual(['x']);
    net.heal();
    net.tickAll(2);
    expect(net.get('a').applied).toEqual(['x', 'y']);
  });

  it('adds a learner that replicates but neither votes nor campaigns, then promotes it', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.add('l', new MemoryStorage());
    change(net, 'a', { type: 'AddLearner', nodeId: 'l' });
    net.propose('a', 'x');
    net.tickAll(2);
    const l = net.get('l');
    expect(l.applied).toEqual(['x']);
    expect(l.conf).toEqual({ voters: ['a', 'b', 'c'], learners: ['l'] });
    // A learner never campaigns, however long it hears nothing.
    net.isolate('l');
    net.tickAll(50);
    expect(l.node.status().hardState.term).toBe(1);
    expect(net.get('a').node.status().progress!.l!.isLearner).toBe(true);
    net.heal();
    change(net, 'a', { type: 'AddNode', nodeId: 'l' });
    net.tickAll(2);
    expect(l.conf).toEqual({ voters: ['a', 'b', 'c', 'l'], learners: [] });
    expect(net.get('a').node.status().progress!.l!.isLearner).toBe(false);
  });

  it('a learner’s acknowledgement does not count towards commit', () => {
    const net = new TestNetwork(['a', 'b', 'c'], {}, 1, ['l']);
    net.elect('a');
    net.isolate('b');
    net.isolate('c');
    net.get('a').node.propose(bytes('x'));
    net.stabilize();
    expect(net.get('a').node.status().progress!.l!.match).toBe(3);
    expect(net.get('a').applied).toEqual([]);
  });

  it('removes a follower: the cluster commits without it', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    change(net, 'a', { type: 'RemoveNode', nodeId: 'c' });
    net.tickAll(1);
    net.remove('c');
    net.isolate('b');
    // 2 voters, quorum 2: b is needed.
    net.get('a').node.propose(bytes('x'));
    net.stabilize();
    expect(net.get('a').applied).toEqual([]);
    net.heal();
    net.tickAll(2);
    expect(net.get('a').applied).toEqual(['x']);
    expect(net.get('a').conf).toEqual({ voters: ['a', 'b'], learners: [] });
  });

  it('a removed leader steps down and the others elect a new leader', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    change(net, 'a', { type: 'RemoveNode', nodeId: 'a' });
    expect(net.get('a').node.status().softState.role).toBe('follower');
    net.tickAll(40);
    const leaders = net.leaders();
    expect(leaders).toHaveLength(1);
    expect(leaders[0]).not.toBe('a');
    for (const id of ['b', 'c']) expect(net.get(id).conf).toEqual({ voters: ['b', 'c'], learners: [] });
    // The removed node never campaigns again.
    const termOfA = net.get('a').node.status().hardState.term;
    net.isolate('a');
    net.tickAll(50);
    expect(net.get('a').node.status().hardState.term).toBe(termOfA);
  });

  it('only one conf change may be pending; the next is refused until it is applied', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    const a = net.get('a').node;
    expect(a.proposeConfChange({ type: 'AddLearner', nodeId: 'l' }).ok).toBe(true);
    expect(a.proposeConfChange({ type: 'AddLearner', nodeId: 'm' })).toEqual({ ok: false, reason: 'conf_change_pending' });
    net.stabilize();
    expect(a.proposeConfChange({ type: 'AddLearner', nodeId: 'm' }).ok).toBe(true);
  });

  it('refuses nonsensical changes with a reason', () => {
    const net = new TestNetwork(['a', 'b'], {}, 1, ['l']);
    net.elect('a');
    const a = net.get('a').node;
    expect(a.proposeConfChange({ type: 'AddNode', nodeId: 'b' })).toMatchObject({ ok: false, reason: 'invalid_conf_change' });
    expect(a.proposeConfChange({ type: 'AddLearner', nodeId: 'b' })).toMatchObject({ ok: false, reason: 'invalid_conf_change' });
    expect(a.proposeConfChange({ type: 'AddLearner', nodeId: 'l' })).toMatchObject({ ok: false, reason: 'invalid_conf_change' });
    expect(a.proposeConfChange({ type: 'RemoveNode', nodeId: 'zz' })).toMatchObject({ ok: false, reason: 'invalid_conf_change' });
    expect(net.get('b').node.proposeConfChange({ type: 'AddNode', nodeId: 'x' })).toEqual({ ok: false, reason: 'not_leader', leaderHint: 'a' });
  });

  it('refuses to remove the last voter', () => {
    const net = new TestNetwork(['a']);
    net.elect('a');
    expect(net.get('a').node.proposeConfChange({ type: 'RemoveNode', nodeId: 'a' })).toEqual({
      ok: false,
      reason: 'invalid_conf_change',
      detail: 'cannot remove the last voter',
    });
  });

  it('grows a cluster from one node to three and shrinks it back, serving writes throughout', () => {
    const net = new TestNetwork(['a']);
    net.elect('a');
    for (const id of ['b', 'c']) {
      net.add(id, new MemoryStorage());
      change(net, 'a', { type: 'AddNode', nodeId: id });
      net.tickAll(2);
      net.propose('a', `with-${id}`);
    }
    change(net, 'a', { type: 'RemoveNode', nodeId: 'c' });
    net.tickAll(2);
    net.propose('a', 'without-c');
    expect(net.get('b').applied).toEqual(['with-b', 'with-c', 'without-c']);
    expect(net.get('a').conf).toEqual({ voters: ['a', 'b'], learners: [] });
  });
});
