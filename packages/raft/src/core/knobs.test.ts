import { describe, expect, it } from 'vitest';
import { TestNetwork, msg } from './test-network.js';

describe('unsafe testing knobs (test-only protocol breakers)', () => {
  it('grantEveryVote makes a voter grant a second vote in the same term', () => {
    const vote = (net: TestNetwork, from: string): boolean => {
      const c = net.get('c').node;
      c.step(msg({ type: 'MsgVote', from, to: 'c', term: 1, index: 1 }));
      const rd = net.processReady('c')!;
      return rd.messages.some((m) => m.type === 'MsgVoteResp' && m.to === from && !m.reject);
    };
    const safe = new TestNetwork(['a', 'b', 'c']);
    expect([vote(safe, 'a'), vote(safe, 'b')]).toEqual([true, false]);
    const broken = new TestNetwork(['a', 'b', 'c'], { unsafeTestingKnobs: { grantEveryVote: true } });
    expect([vote(broken, 'a'), vote(broken, 'b')]).toEqual([true, true]);
  });

  it('grantEveryVote lets two leaders win the same term', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { unsafeTestingKnobs: { grantEveryVote: true } });
    net.cut('a', 'b');
    net.get('a').node.campaign();
    net.get('b').node.campaign();
    net.stabilize();
    expect(net.leaders().sort()).toEqual(['a', 'b']);
    expect(net.get('a').node.status().hardState.term).toBe(net.get('b').node.status().hardState.term);
  });

  it('knobs are off unless set to true, and anything but a boolean is refused', () => {
    expect(() => new TestNetwork(['a'], { unsafeTestingKnobs: { grantEveryVote: 'yes' as unknown as boolean } })).toThrow(/must be a boolean/);
    expect(() => new TestNetwork(['a'], { unsafeTestingKnobs: { grantAll: true } as never })).toThrow(/unknown unsafeTestingKnobs/);
    const net = new TestNetwork(['a', 'b', 'c'], { unsafeTestingKnobs: { grantEveryVote: false } });
    const c = net.get('c').node;
    c.step(msg({ type: 'MsgVote', from: 'a', to: 'c', term: 1, index: 1 }));
    c.step(msg({ type: 'MsgVote', from: 'b', to: 'c', term: 1, index: 1 }));
    expect(net.processReady('c')!.messages.map((m) => m.reject)).toEqual([false, true]);
  });
});
