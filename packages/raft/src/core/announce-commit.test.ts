import { describe, expect, it } from 'vitest';
import { TestNetwork } from './test-network.js';

/** Empty MsgApps the leader sent (commit announcements: no entries to carry). */
function emptyAppends(net: TestNetwork, from: string): number {
  return net.sent.filter((m) => m.type === 'MsgApp' && m.from === from && m.entries.length === 0).length;
}

describe('announcing a commit (Config.announceCommit)', () => {
  it('by default the leader sends every follower an empty append as soon as an entry commits', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.elect('a');
    net.sent = [];
    const index = net.propose('a', 'x');
    expect(emptyAppends(net, 'a')).toBe(2);
    for (const id of ['b', 'c']) expect(net.get(id).node.status().hardState.commit).toBe(index);
  });

  it('off: no empty append per commit; a follower learns the commit from the next append or heartbeat', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { announceCommit: false });
    net.elect('a');
    net.sent = [];
    const first = net.propose('a', 'x');
    expect(emptyAppends(net, 'a')).toBe(0);
    expect(net.get('a').node.status().hardState.commit).toBe(first);
    for (const id of ['b', 'c']) expect(net.get(id).node.status().hardState.commit).toBe(first - 1);
    // The next append carries the commit of the one before.
    const second = net.propose('a', 'y');
    for (const id of ['b', 'c']) expect(net.get(id).node.status().hardState.commit).toBe(first);
    // A heartbeat (heartbeatTick 1) carries the last one; every follower applies both entries.
    net.tickAll(1);
    for (const id of ['b', 'c']) {
      expect(net.get(id).node.status().hardState.commit).toBe(second);
      expect(net.get(id).appliedEntries.map((e) => e.index)).toContain(second);
    }
    expect(emptyAppends(net, 'a')).toBe(0);
  });

  it('off: a membership change is still announced when it commits, so a member it removes learns of it', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { announceCommit: false });
    net.elect('a');
    net.propose('a', 'x');
    net.sent = [];
    expect(net.get('a').node.proposeConfChange({ type: 'RemoveNode', nodeId: 'c' }).ok).toBe(true);
    net.stabilize();
    expect(emptyAppends(net, 'a')).toBe(2);
    // c applied its own removal: it is no longer a voter in its own configuration.
    expect(net.get('c').conf.voters).not.toContain('c');
  });
});
