import { describe, expect, it } from 'vitest';
import { TestNetwork, bytes, msg } from './test-network.js';

describe('proposal batching', () => {
  it('many proposals before one Ready become one batch: one fsync and one MsgApp per follower', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    const a = net.get('a');
    for (let i = 0; i < 100; i++) expect(a.node.propose(bytes(`p${i}`)).ok).toBe(true);
    const rd = a.node.ready();
    expect(rd.entries).toHaveLength(100);
    expect(rd.mustSync).toBe(true);
    const apps = rd.messages.filter((m) => m.type === 'MsgApp');
    expect(apps.map((m) => [m.to, m.entries.length])).toEqual([
      ['b', 100],
      ['c', 100],
    ]);
    a.storage.append(rd.entries);
    for (const m of rd.messages) net.queue.push(m);
    a.node.advance(rd);
    const syncsBefore = net.get('b').syncs;
    net.stabilize();
    expect(net.get('b').syncs - syncsBefore).toBe(1);
    expect(net.get('c').applied).toHaveLength(100);
  });
});

describe('bounds', () => {
  it('maxSizePerMsg splits a long catch-up into messages of bounded size', () => {
    const net = new TestNetwork(['a', 'b'], { maxSizePerMsg: 1000 });
    net.elect('a');
    net.isolate('b');
    for (let i = 0; i < 20; i++) net.get('a').node.propose(new Uint8Array(300));
    net.stabilize();
    net.heal();
    net.sent = [];
    net.tickAll(2);
    const apps = net.sent.filter((m) => m.type === 'MsgApp' && m.entries.length > 0);
    expect(apps.length).toBeGreaterThanOrEqual(7);
    for (const m of apps) expect(m.entries.reduce((n, e) => n + e.data.length, 0)).toBeLessThanOrEqual(1000);
    expect(net.get('b').node.status().hardState.commit).toBe(net.get('a').node.status().hardState.commit);
  });

  it('maxInflightMsgs caps the unacknowledged appends to one follower', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { maxInflightMsgs: 3 });
    net.elect('a');
    // Hold back b's acknowledgements; c keeps the quorum.
    net.filter = (m) => !(m.type === 'MsgAppResp' && m.from === 'b');
    net.sent = [];
    for (let i = 0; i < 10; i++) net.propose('a', `p${i}`);
    const pr = net.get('a').node.status().progress!.b!;
    expect(pr.state).toBe('replicate');
    expect(pr.inflight).toBe(3);
    const toB = net.sent.filter((m) => m.type === 'MsgApp' && m.to === 'b' && m.entries.length > 0);
    expect(toB).toHaveLength(3);
    net.heal();
    net.tickAll(3);
    expect(net.get('b').applied).toHaveLength(10);
  });

  it('maxUncommittedEntriesSize refuses proposals with a returned value until entries commit', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { maxUncommittedEntriesSize: 1000 });
    net.elect('a');
    net.isolate('a');
    const a = net.get('a').node;
    for (let i = 0; i < 3; i++) expect(a.propose(new Uint8Array(300)).ok).toBe(true);
    expect(a.propose(new Uint8Array(300))).toEqual({ ok: false, reason: 'too_many_uncommitted' });
    // Empty proposals cost nothing and are never refused for size.
    expect(a.propose(new Uint8Array(0)).ok).toBe(true);
    net.heal();
    net.tickAll(2);
    expect(a.propose(new Uint8Array(300)).ok).toBe(true);
  });

  it('the first proposal is accepted even above the budget, so one large entry cannot wedge the leader', () => {
    const net = new TestNetwork(['a'], { maxUncommittedEntriesSize: 10 });
    net.elect('a');
    expect(net.get('a').node.propose(new Uint8Array(100)).ok).toBe(true);
    expect(net.get('a').node.propose(new Uint8Array(1))).toEqual({ ok: false, reason: 'too_many_uncommitted' });
  });

  it('a proposal above the entry size limit is refused', () => {
    const net = new TestNetwork(['a']);
    net.elect('a');
    expect(net.get('a').node.propose(new Uint8Array(1024 * 1024 + 1))).toMatchObject({ ok: false, reason: 'too_large' });
  });

  it('a follower refuses proposals with the leader hint', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    expect(net.get('b').node.propose(bytes('x'))).toEqual({ ok: false, reason: 'not_leader', leaderHint: '' });
    net.elect('a');
    expect(net.get('b').node.propose(bytes('x'))).toEqual({ ok: false, reason: 'not_leader', leaderHint: 'a' });
  });
});

describe('recovery from lost messages', () => {
  it('a lost append with nothing after it is found by the next heartbeats', () => {
    // Two voters: the entry cannot commit (and no commit broadcast repairs b) until b has it.
    const net = new TestNetwork(['a', 'b']);
    net.elect('a');
    net.tickAll(2);
    let dropped = 0;
    net.filter = (m) => {
      if (m.type !== 'MsgApp' || m.to !== 'b' || m.entries.length === 0 || dropped > 0) return true;
      dropped++;
      return false;
    };
    net.propose('a', 'x');
    expect(dropped).toBe(1);
    expect(net.get('a').applied).toEqual([]);
    net.tickAll(3);
    expect(net.get('a').applied).toEqual(['x']);
    expect(net.get('b').applied).toEqual(['x']);
  });

  it('messages of an older term are not sent: an acknowledgement of since-overwritten entries never leaves', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    const b = net.get('b').node;
    const entries = [{ term: 1, index: 3, type: 'Normal' as const, data: bytes('x') }];
    b.step(msg({ type: 'MsgApp', from: 'a', to: 'b', term: 1, logTerm: 1, index: 2, entries, commit: 2 }));
    b.step(msg({ type: 'MsgHeartbeat', from: 'c', to: 'b', term: 2, commit: 2 }));
    const rd = b.ready();
    expect(rd.messages.map((m) => [m.type, m.term])).toEqual([['MsgHeartbeatResp', 2]]);
    b.advance(rd);
  });
});
