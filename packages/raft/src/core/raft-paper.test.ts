/**
 * Scenario tests for the claims of the Raft paper (§5), after etcd's raft_paper_test.go.
 */
import { describe, expect, it } from 'vitest';
import { TestNetwork, bytes, logOf, msg } from './test-network.js';

describe('leader election (§5.2)', () => {
  it('a follower that hears nobody for an election timeout campaigns and wins in a fresh term', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.tickAll(25);
    const leaders = net.leaders();
    expect(leaders).toHaveLength(1);
    for (const tn of net.nodes.values()) {
      expect(tn.node.status().hardState.term).toBe(1);
      expect(tn.node.status().softState.leader).toBe(leaders[0]);
    }
  });

  it('randomized timeouts spread the first campaigns over [electionTick, 2*electionTick)', () => {
    const firstCampaign = new Set<number>();
    for (let seed = 1; seed <= 20; seed++) {
      const net = new TestNetwork(['a'], {}, seed);
      const node = net.get('a').node;
      let ticks = 0;
      while (node.status().softState.role === 'follower') {
        node.tick();
        ticks++;
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(ticks).toBeLessThan(20);
      firstCampaign.add(ticks);
    }
    expect(firstCampaign.size).toBeGreaterThan(3);
  });

  it('a candidate votes for itself, asks every voter, and becomes leader with a majority', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.get('a').node.campaign();
    const rd = net.processReady('a')!;
    expect(rd.hardState).toEqual({ term: 1, vote: 'a', commit: 1 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages.map((m) => [m.type, m.to, m.term])).toEqual([
      ['MsgVote', 'b', 1],
      ['MsgVote', 'c', 1],
    ]);
    net.stabilize();
    expect(net.leaders()).toEqual(['a']);
  });

  it('a voter grants at most one vote per term, first come first served', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    const c = net.get('c').node;
    c.step(msg({ type: 'MsgVote', from: 'a', to: 'c', term: 1, index: 1 }));
    c.step(msg({ type: 'MsgVote', from: 'b', to: 'c', term: 1, index: 1 }));
    const rd = net.processReady('c')!;
    expect(rd.messages.map((m) => [m.to, m.reject])).toEqual([
      ['a', false],
      ['b', true],
    ]);
    expect(rd.hardState?.vote).toBe('a');
  });

  it('a candidate whose log is behind loses (§5.4.1 up-to-date rule)', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    net.propose('a', 'x');
    net.heal();
    net.get('c').node.campaign();
    net.stabilize();
    expect(net.get('c').node.status().softState.role).not.toBe('leader');
    // c's higher term deposed a; an up-to-date node wins the next election.
    net.tickAll(30);
    expect(net.leaders()).toHaveLength(1);
    expect(net.leaders()[0]).not.toBe('c');
    expect(net.get('c').applied).toEqual(['x']);
  });

  it('a leader or candidate that sees a higher term becomes a follower in that term', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    const a = net.get('a').node;
    a.step(msg({ type: 'MsgHeartbeat', from: 'b', to: 'a', term: 5 }));
    expect(a.status().softState).toEqual({ leader: 'b', role: 'follower' });
    expect(a.status().hardState.term).toBe(5);
  });

  it('a candidate that hears from the leader of its term steps down', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    const b = net.get('b').node;
    b.campaign();
    expect(b.status().softState.role).toBe('candidate');
    b.step(msg({ type: 'MsgApp', from: 'a', to: 'b', term: 1 }));
    expect(b.status().softState).toEqual({ leader: 'a', role: 'follower' });
  });

  it('a split vote ends in a later term with one leader', () => {
    const net = new TestNetwork(['a', 'b', 'c', 'd']);
    net.cut('a', 'c');
    net.cut('a', 'd');
    net.cut('b', 'c');
    net.cut('b', 'd');
    net.get('a').node.campaign();
    net.get('c').node.campaign();
    net.stabilize();
    expect(net.leaders()).toEqual([]);
    net.heal();
    net.tickAll(60);
    expect(net.leaders()).toHaveLength(1);
  });
});

describe('log replication (§5.3)', () => {
  it('a leader appends an empty entry on election and replicates proposals to every follower', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    const index = net.propose('a', 'x');
    // Index 1 is the bootstrap snapshot, 2 the leader's empty entry.
    expect(index).toBe(3);
    for (const tn of net.nodes.values()) {
      expect(tn.applied).toEqual(['x']);
      expect(logOf(tn)).toEqual([
        [1, 2],
        [1, 3],
      ]);
    }
  });

  it('a follower refuses an append whose previous entry does not match (log matching)', () => {
    const net = new TestNetwork(['a', 'b']);
    const b = net.get('b').node;
    b.step(msg({ type: 'MsgApp', from: 'a', to: 'b', term: 2, logTerm: 2, index: 5 }));
    const rd = net.processReady('b')!;
    expect(rd.messages).toHaveLength(1);
    expect(rd.messages[0]).toMatchObject({ type: 'MsgAppResp', reject: true, index: 5, rejectHint: 1, logTerm: 0 });
  });

  it('entries are persisted before the acknowledgement that depends on them is sent', () => {
    const net = new TestNetwork(['a', 'b']);
    const b = net.get('b').node;
    const entries = [{ term: 1, index: 2, type: 'Normal' as const, data: bytes('x') }];
    b.step(msg({ type: 'MsgApp', from: 'a', to: 'b', term: 1, index: 1, entries, commit: 1 }));
    const rd = b.ready();
    expect(rd.entries).toEqual(entries);
    expect(rd.mustSync).toBe(true);
    expect(rd.messages[0]).toMatchObject({ type: 'MsgAppResp', index: 2, reject: false });
    b.advance(rd);
  });

  it('a single-node leader commits only after its own entries are persisted', () => {
    const net = new TestNetwork(['a']);
    const a = net.get('a').node;
    a.campaign();
    const rd1 = a.ready();
    expect(rd1.entries).toHaveLength(1);
    expect(rd1.committedEntries).toHaveLength(0);
    expect(rd1.hardState?.commit).toBe(1);
    net.get('a').storage.append(rd1.entries);
    a.advance(rd1);
    const rd2 = a.ready();
    expect(rd2.hardState?.commit).toBe(2);
    expect(rd2.committedEntries.map((e) => e.index)).toEqual([2]);
    a.advance(rd2);
  });
});

describe('commitment (§5.3, §5.4.2)', () => {
  it('a leader commits once a majority has the entry, and followers learn it', () => {
    const net = new TestNetwork(['a', 'b', 'c', 'd', 'e']);
    net.elect('a');
    net.isolate('d');
    net.isolate('e');
    net.propose('a', 'x');
    expect(net.get('a').applied).toEqual(['x']);
    expect(net.get('b').applied).toEqual(['x']);
    expect(net.get('d').applied).toEqual([]);
  });

  it('without a majority nothing commits', () => {
    const net = new TestNetwork(['a', 'b', 'c', 'd', 'e']);
    net.elect('a');
    net.isolate('c');
    net.isolate('d');
    net.isolate('e');
    net.propose('a', 'x');
    expect(net.get('a').node.status().hardState.commit).toBe(2);
    expect(net.get('a').applied).toEqual([]);
  });

  /**
   * Figure 8: a (term 1) gets 'old' onto a and b only; c wins term 2 with d and e but its
   * entry reaches nobody; a wins term 3 and replicates 'old' to a majority. Counting those
   * replicas would commit 'old' although c could still win term 4 (its last term is 2) and
   * overwrite it. Returns a's status while acknowledgements of term-3 entries are held back.
   */
  function figure8(knobs: { commitPriorTermByCount?: boolean } = {}): { commit: number; replicas: number; net: TestNetwork } {
    const net = new TestNetwork(['a', 'b', 'c', 'd', 'e'], { maxSizePerMsg: 1, unsafeTestingKnobs: knobs });
    net.elect('a');
    for (const id of ['c', 'd', 'e']) net.isolate(id);
    net.get('a').node.propose(bytes('old'));
    net.stabilize();
    net.heal();
    net.isolate('a');
    net.isolate('b');
    net.filter = (m) => !(m.from === 'c' && m.type === 'MsgApp');
    net.elect('c');
    net.heal();
    net.isolate('c');
    net.filter = (m) => !(m.type === 'MsgAppResp' && m.index >= 4);
    // a crashes and restarts (a follower of term 1); its term-2 campaign loses to d's and e's votes for c.
    net.restart('a');
    net.get('a').node.campaign();
    net.stabilize();
    net.elect('a');
    const status = net.get('a').node.status();
    expect(status.hardState.term).toBe(3);
    const replicas = Object.values(status.progress!).filter((p) => p.match >= 3).length;
    return { commit: status.hardState.commit, replicas, net };
  }

  it('a leader does not commit an entry of an earlier term by counting replicas (figure 8)', () => {
    const { commit, replicas, net } = figure8();
    expect(replicas).toBeGreaterThanOrEqual(3);
    expect(commit).toBe(2);
    // Once an entry of term 3 is on a majority, it commits, and 'old' with it.
    net.heal();
    net.isolate('c');
    net.tickAll(2);
    expect(net.get('a').node.status().hardState.commit).toBe(4);
    expect(net.get('a').applied).toEqual(['old']);
  });

  it('the commitPriorTermByCount knob breaks exactly that rule', () => {
    const { commit, replicas } = figure8({ commitPriorTermByCount: true });
    expect(replicas).toBeGreaterThanOrEqual(3);
    expect(commit).toBe(3);
  });
});

describe('log repair (§5.3)', () => {
  it('a leader overwrites a follower’s conflicting uncommitted entries and fills in missing ones', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    // a appends entries no one else gets, then b leads and writes different ones.
    net.isolate('a');
    for (const d of ['a1', 'a2', 'a3']) net.get('a').node.propose(bytes(d));
    net.stabilize();
    net.heal();
    net.isolate('a');
    net.elect('b');
    net.propose('b', 'y');
    net.heal();
    net.tickAll(3);
    for (const tn of net.nodes.values()) {
      expect(tn.applied).toEqual(['x', 'y']);
      expect(logOf(tn)).toEqual(logOf(net.get('b')));
    }
  });

  it('fast back-off skips a whole term of conflicting entries per round trip', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    // a's 50 entries from term 1 that nobody else has.
    net.isolate('a');
    for (let i = 0; i < 50; i++) net.get('a').node.propose(bytes(`a${i}`));
    net.stabilize();
    net.heal();
    net.isolate('a');
    net.elect('b');
    for (let i = 0; i < 50; i++) net.get('b').node.propose(bytes(`b${i}`));
    net.stabilize();
    net.heal();
    net.sent = [];
    net.tickAll(2);
    const rejects = net.sent.filter((m) => m.type === 'MsgAppResp' && m.reject && m.from === 'a');
    expect(rejects.length).toBeLessThanOrEqual(2);
    expect(logOf(net.get('a'))).toEqual(logOf(net.get('b')));
    expect(net.get('a').applied).toEqual(net.get('b').applied);
  });

  it('a restart with applied beyond the saved commit index (commit is saved without fsync) resumes after applied', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    net.propose('a', 'y');
    const b = net.get('b');
    const applied = b.node.status().applied;
    b.storage.setHardState({ ...b.storage.initialState().hardState, commit: 1 });
    const restarted = net.add('b', b.storage, applied);
    expect(restarted.node.status().hardState.commit).toBe(applied);
    expect(restarted.node.hasReady()).toBe(false);
    net.propose('a', 'z');
    expect(restarted.applied).toEqual(['z']);
  });

  it('a restarted node keeps its term, vote and log and catches up', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    const before = net.get('b').node.status().hardState;
    net.restart('b');
    expect(net.get('b').node.status().hardState).toEqual(before);
    net.propose('a', 'y');
    expect(net.get('b').applied).toEqual(['x', 'y']);
  });
});
