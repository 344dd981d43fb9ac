import { describe, expect, it } from 'vitest';
import { MemoryStorage } from './memory-storage.js';
import { planReady, storeReady, type ReadyStep } from './ready-driver.js';
import type { Entry, HardState, Message, Ready } from './types.js';

const entry = (index: number, term: number): Entry => ({ index, term, type: 'Normal', data: new Uint8Array([index]) });
const msg = (to: string): Message => ({ type: 'MsgApp', from: 'a', to, term: 2, logTerm: 2, index: 1, entries: [], commit: 1, reject: false, rejectHint: 0 });

function ready(over: Partial<Ready>): Ready {
  return { entries: [], committedEntries: [], messages: [], readStates: [], mustSync: false, ...over };
}

const kinds = (steps: readonly ReadyStep[]): string[] => steps.map((s) => s.kind);
const stored: HardState = { term: 2, vote: 'a', commit: 1 };

describe('planReady: the order both metad and the simulation handle a Ready in', () => {
  it('a leader sends its appends before its own write, then waits for the write before applying', () => {
    const rd = ready({ entries: [entry(2, 2)], messages: [msg('b'), msg('c')], mustSync: true });
    const steps = planReady(rd, { leader: true, stored });
    expect(kinds(steps)).toEqual(['send', 'write', 'wait', 'store', 'apply', 'advance']);
    expect(steps[1]).toEqual({ kind: 'write', sync: true });
  });

  it('a follower writes and waits before it acknowledges', () => {
    const rd = ready({ entries: [entry(2, 2)], messages: [msg('a')], mustSync: true });
    expect(kinds(planReady(rd, { leader: false, stored }))).toEqual(['write', 'wait', 'store', 'send', 'apply', 'advance']);
  });

  it('a leader whose Ready changes the term or the vote persists it before anyone hears of it', () => {
    const newTerm = ready({ hardState: { term: 3, vote: 'a', commit: 1 }, messages: [msg('b')], mustSync: true });
    expect(kinds(planReady(newTerm, { leader: true, stored }))[0]).toBe('write');
    const newVote = ready({ hardState: { term: 2, vote: 'b', commit: 1 }, messages: [msg('b')], mustSync: true });
    expect(kinds(planReady(newVote, { leader: true, stored }))[0]).toBe('write');
  });

  it('a leader installing a snapshot persists it before sending', () => {
    const rd = ready({ snapshot: { meta: { index: 5, term: 2, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array() }, messages: [msg('b')], mustSync: true });
    expect(kinds(planReady(rd, { leader: true, stored }))[0]).toBe('write');
  });

  it('a write that only moves the commit index is not waited for', () => {
    const rd = ready({ hardState: { term: 2, vote: 'a', commit: 3 }, committedEntries: [entry(2, 2), entry(3, 2)], messages: [msg('b')] });
    expect(kinds(planReady(rd, { leader: false, stored }))).toEqual(['write', 'store', 'send', 'apply', 'advance']);
    expect(kinds(planReady(rd, { leader: true, stored }))).toEqual(['send', 'write', 'store', 'apply', 'advance']);
  });

  it('a Ready with nothing to persist or send only applies and advances', () => {
    expect(kinds(planReady(ready({ committedEntries: [entry(2, 2)] }), { leader: false, stored }))).toEqual(['store', 'apply', 'advance']);
  });
});

describe('storeReady', () => {
  it('makes the entries and hard state visible through the storage, replacing a conflicting suffix', () => {
    const storage = MemoryStorage.withConf({ voters: ['a'], learners: [] });
    storeReady(storage, ready({ entries: [entry(2, 1), entry(3, 1)], hardState: { term: 1, vote: 'a', commit: 2 } }));
    storeReady(storage, ready({ entries: [entry(3, 2)], hardState: { term: 2, vote: 'a', commit: 2 } }));
    expect(storage.lastIndex()).toBe(3);
    expect(storage.term(3)).toEqual(2);
    expect(storage.initialState().hardState).toEqual({ term: 2, vote: 'a', commit: 2 });
  });
});
