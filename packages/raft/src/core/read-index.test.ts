import { describe, expect, it } from 'vitest';
import { TestNetwork, bytes } from './test-network.js';

const decode = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('ReadIndex', () => {
  it('a leader answers a read with its commit index after a quorum confirms it still leads', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    const a = net.get('a');
    expect(a.node.readIndex(bytes('r1'))).toEqual({ ok: true });
    const rd = net.processReady('a')!;
    // Not yet: the heartbeat round carrying the ctx must come back first.
    expect(rd.readStates).toEqual([]);
    expect(rd.messages.filter((m) => m.type === 'MsgHeartbeat' && decode(m.context!) === 'r1')).toHaveLength(2);
    net.stabilize();
    expect(a.readStates.map((r) => [r.index, decode(r.ctx)])).toEqual([[3, 'r1']]);
  });

  it('a leader cut off from the quorum never answers (no stale reads)', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('a');
    net.get('a').node.readIndex(bytes('r1'));
    net.tickAll(30);
    expect(net.get('a').readStates).toEqual([]);
  });

  it('a follower forwards the read to the leader and gets the leader’s commit index', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    expect(net.get('b').node.readIndex(bytes('rb'))).toEqual({ ok: true });
    net.stabilize();
    expect(net.get('b').readStates.map((r) => [r.index, decode(r.ctx)])).toEqual([[3, 'rb']]);
    expect(net.get('a').readStates).toEqual([]);
  });

  it('a node that knows no leader refuses the read with a returned value', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    expect(net.get('b').node.readIndex(bytes('r'))).toEqual({ ok: false, reason: 'not_leader', leaderHint: '' });
  });

  it('a new leader holds reads until it has committed an entry of its own term', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    const b = net.get('b');
    // b wins but its term-2 entry cannot commit yet: appends are held back.
    net.filter = (m) => m.type !== 'MsgApp';
    b.node.campaign();
    net.stabilize();
    expect(b.node.status().softState.role).toBe('leader');
    b.node.readIndex(bytes('early'));
    net.stabilize();
    expect(b.readStates).toEqual([]);
    net.heal();
    net.tickAll(2);
    expect(b.readStates.map((r) => [r.index, decode(r.ctx)])).toEqual([[4, 'early']]);
  });

  it('one heartbeat round confirms every read queued before it', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.filter = (m) => m.type !== 'MsgHeartbeatResp';
    for (const ctx of ['r1', 'r2', 'r3']) net.get('a').node.readIndex(bytes(ctx));
    net.stabilize();
    expect(net.get('a').readStates).toEqual([]);
    net.heal();
    net.tickAll(1);
    expect(net.get('a').readStates.map((r) => decode(r.ctx))).toEqual(['r1', 'r2', 'r3']);
  });

  it('a single-voter cluster answers at once', () => {
    const net = new TestNetwork(['a']);
    net.elect('a');
    net.propose('a', 'x');
    net.get('a').node.readIndex(bytes('r'));
    net.stabilize();
    expect(net.get('a').readStates.map((r) => r.index)).toEqual([3]);
  });
});
