import { describe, expect, it } from 'vitest';
import { MemoryStorage } from './memory-storage.js';
import type { Entry } from './types.js';

const ent = (index: number, term: number): Entry => ({ index, term, type: 'Normal', data: new Uint8Array([index]) });

describe('MemoryStorage', () => {
  it('appends, truncates a conflicting suffix, and answers term and entries within bounds', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
    s.append([ent(2, 2)]);
    expect(s.lastIndex()).toBe(2);
    expect(s.term(2)).toBe(2);
    expect(s.entries(1, 3, 100).map((e) => e.index)).toEqual([1, 2]);
    expect(() => s.term(3)).toThrow(/beyond last index/);
  });

  it('limits entries by bytes but always returns at least one', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
    expect(s.entries(1, 4, 0)).toHaveLength(1);
    expect(s.entries(1, 4, 2)).toHaveLength(2);
  });

  it('compacts up to a snapshot and refuses to compact twice', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1), ent(2, 1), ent(3, 2)]);
    const snap = s.createSnapshot(2, { voters: ['a'], learners: [] }, new Uint8Array([9]));
    expect(snap.ok && snap.snapshot.meta).toEqual({ index: 2, term: 1, conf: { voters: ['a'], learners: [] } });
    expect(s.compact(2)).toEqual({ ok: true });
    expect(s.firstIndex()).toBe(3);
    expect(s.term(2)).toBe(1);
    expect(s.compact(2)).toEqual({ ok: false, reason: 'compacted' });
    expect(s.createSnapshot(1, { voters: [], learners: [] }, new Uint8Array())).toEqual({ ok: false, reason: 'out_of_date' });
    expect(() => s.compact(3)).toThrow(/beyond the snapshot/);
  });

  it('applySnapshot replaces the log and refuses an older snapshot', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1), ent(2, 1)]);
    const snap = { meta: { index: 10, term: 3, conf: { voters: ['a', 'b'], learners: ['c'] } }, data: new Uint8Array() };
    expect(s.applySnapshot(snap)).toEqual({ ok: true });
    expect([s.firstIndex(), s.lastIndex(), s.term(10)]).toEqual([11, 10, 3]);
    expect(s.initialState().confState).toEqual({ voters: ['a', 'b'], learners: ['c'] });
    expect(s.applySnapshot(snap)).toEqual({ ok: false, reason: 'out_of_date' });
    s.append([ent(11, 3)]);
    expect(s.lastIndex()).toBe(11);
    expect(() => s.append([ent(13, 3)])).toThrow(/gap/);
  });
});
