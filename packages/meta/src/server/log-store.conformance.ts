import { describe, expect, it } from 'vitest';
import type { Entry, Snapshot } from '@basalt/raft';
import { saveSnapshot } from './log-store.js';
import type { LogStore } from './log-store.js';

/**
 * Tests every LogStore must pass. `factory.open()` returns a store over the same durable state
 * each time (a restart); `factory.crash()` loses what was not synced (a machine crash), for the
 * stores that can model it; `factory.corrupt()` breaks the stored log (a gap), if supported.
 */
export interface LogStoreFactory {
  open(): Promise<LogStore> | LogStore;
  crash?(): void;
  corruptWithGap?(store: LogStore): Promise<void>;
  cleanup(): Promise<void> | void;
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const entry = (index: number, term: number, data = `e${index}t${term}`): Entry => ({ index, term, type: 'Normal', data: bytes(data) });
const range = (from: number, to: number, term: number): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
const snap = (index: number, term: number, data = 'state'): Snapshot => ({ meta: { index, term, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } }, data: bytes(data) });

async function reopen(f: LogStoreFactory, store: LogStore): Promise<LogStore> {
  await store.close();
  return f.open();
}

export function logStoreConformance(name: string, makeFactory: () => Promise<LogStoreFactory> | LogStoreFactory): void {
  describe(`LogStore conformance: ${name}`, () => {
    const withStore = (fn: (f: LogStoreFactory, s: LogStore) => Promise<void>) => async () => {
      const f = await makeFactory();
      const s = await f.open();
      try {
        await fn(f, s);
      } finally {
        await f.cleanup();
      }
    };

    it('starts empty', withStore(async (_f, s) => {
      const log = await s.load();
      expect(log.entries).toEqual([]);
      expect(log.hardState).toEqual({ term: 0, vote: '', commit: 0 });
      expect(log.snapshot.meta.index).toBe(0);
      await s.close();
    }));

    it('keeps entries and hard state across a restart', withStore(async (f, s) => {
      await s.load();
      await s.save({ entries: range(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 3 } }, true);
      const again = await reopen(f, s);
      const log = await again.load();
      expect(log.entries).toEqual(range(1, 5, 1));
      expect(log.hardState).toEqual({ term: 1, vote: 'a', commit: 3 });
      await again.close();
    }));

    it('replaces a conflicting suffix and forgets entries past the new end', withStore(async (f, s) => {
      await s.load();
      await s.save({ entries: range(1, 6, 1), hardState: { term: 2, vote: 'a', commit: 2 } }, true);
      await s.save({ entries: [entry(3, 2), entry(4, 2)] }, true);
      const again = await reopen(f, s);
      const log = await again.load();
      expect(log.entries).toEqual([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]);
      await again.close();
    }));

    it('compacts up to a local snapshot and restarts from it', withStore(async (f, s) => {
      await s.load();
      await s.save({ entries: range(1, 10, 1), hardState: { term: 1, vote: 'a', commit: 10 } }, true);
      await saveSnapshot(s, snap(7, 1), 7);
      await s.save({ entries: range(11, 12, 1) }, true);
      const again = await reopen(f, s);
      const log = await again.load();
      expect(log.snapshot).toEqual(snap(7, 1));
      expect(log.entries).toEqual(range(8, 12, 1));
      await again.close();
    }));

    it('may keep entries before a snapshot but loads only those after it', withStore(async (f, s) => {
      await s.load();
      await s.save({ entries: range(1, 10, 3), hardState: { term: 3, vote: '', commit: 10 } }, true);
      await saveSnapshot(s, snap(8, 3), 4);
      const again = await reopen(f, s);
      const log = await again.load();
      expect(log.snapshot.meta.index).toBe(8);
      expect(log.entries).toEqual(range(9, 10, 3));
      await again.close();
    }));

    it('writes a local snapshot in pieces: its data is the head and the pieces in order, read back whole', withStore(async (f, s) => {
      await s.load();
      await s.save({ entries: range(1, 10, 2), hardState: { term: 2, vote: 'a', commit: 10 } }, true);
      await saveSnapshot(s, snap(3, 2, 'old'), 3);
      const sink = s.beginSnapshot();
      await sink.append([bytes('one,'), bytes('two,')]);
      await sink.append([bytes('three')]);
      expect((await s.readSnapshot()).data).toEqual(bytes('old'));
      expect(await sink.commit(snap(9, 2).meta, bytes('head:'), 6)).toBe('saved');
      expect(await s.readSnapshot()).toEqual(snap(9, 2, 'head:one,two,three'));
      await s.save({ entries: range(11, 11, 2) }, true);
      const again = await reopen(f, s);
      const log = await again.load();
      expect(log.snapshot).toEqual(snap(9, 2, 'head:one,two,three'));
      expect(log.entries).toEqual(range(10, 11, 2));
      await again.close();
    }));

    it('keeps the previous snapshot when a snapshot in pieces is aborted or never committed', withStore(async (f, s) => {
      await s.load();
      await s.save({ entries: range(1, 8, 1), hardState: { term: 1, vote: 'a', commit: 8 } }, true);
      await saveSnapshot(s, snap(4, 1, 'four'), 4);
      const aborted = s.beginSnapshot();
      await aborted.append([bytes('lost')]);
      await aborted.abort();
      const unfinished = s.beginSnapshot();
      await unfinished.append([bytes('torn'), bytes('pieces')]);
      const again = await reopen(f, s);
      const log = await again.load();
      expect(log.snapshot).toEqual(snap(4, 1, 'four'));
      expect(log.entries).toEqual(range(5, 8, 1));
      const next = again.beginSnapshot();
      await next.append([bytes('x')]);
      expect(await next.commit(snap(6, 1).meta, bytes(''), 6)).toBe('saved');
      const third = await reopen(f, again);
      expect((await third.load()).snapshot).toEqual(snap(6, 1, 'x'));
      await third.close();
    }));

    it('refuses to commit a local snapshot older than one received meanwhile', withStore(async (f, s) => {
      await s.load();
      await s.save({ entries: range(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 5 } }, true);
      const sink = s.beginSnapshot();
      await sink.append([bytes('local')]);
      await s.save({ snapshot: snap(30, 3, 'leader'), entries: [], hardState: { term: 3, vote: '', commit: 30 } }, true);
      expect(await sink.commit(snap(5, 1).meta, bytes(''), 5)).toBe('out_of_date');
      const again = await reopen(f, s);
      const log = await again.load();
      expect(log.snapshot).toEqual(snap(30, 3, 'leader'));
      expect(log.entries).toEqual([]);
      await again.close();
    }));

    it('installs a received snapshot over the whole log', withStore(async (f, s) => {
      await s.load();
      await s.save({ entries: range(1, 4, 1), hardState: { term: 1, vote: 'a', commit: 2 } }, true);
      await s.save({ snapshot: snap(20, 4, 'leader'), entries: [entry(21, 4)], hardState: { term: 4, vote: '', commit: 20 } }, true);
      const again = await reopen(f, s);
      const log = await again.load();
      expect(log.snapshot).toEqual(snap(20, 4, 'leader'));
      expect(log.entries).toEqual([entry(21, 4)]);
      expect(log.hardState.commit).toBe(20);
      await again.close();
    }));

    it('loses no synced write and keeps every batch whole across a crash', withStore(async (f, s) => {
      if (f.crash === undefined) return;
      await s.load();
      await s.save({ entries: range(1, 3, 1), hardState: { term: 1, vote: 'a', commit: 1 } }, true);
      await s.save({ entries: range(4, 6, 1), hardState: { term: 1, vote: 'a', commit: 5 } }, false);
      await s.close();
      f.crash();
      const again = await f.open();
      const log = await again.load();
      expect(log.entries).toEqual(range(1, 3, 1));
      expect(log.hardState.commit).toBe(1);
      await again.close();
    }));

    it('refuses to load a log with a gap (a torn or damaged store)', withStore(async (f, s) => {
      if (f.corruptWithGap === undefined) return;
      await s.load();
      await s.save({ entries: range(1, 6, 1), hardState: { term: 1, vote: 'a', commit: 6 } }, true);
      await f.corruptWithGap(s);
      const again = await reopen(f, s);
      await expect(again.load()).rejects.toThrow(/gap/);
      await expect(again.load()).rejects.toMatchObject({ code: 'BASALT_IO' });
      await again.close();
    }));

    it('refuses a commit index beyond the stored log', withStore(async (f, s) => {
      await s.load();
      await s.save({ entries: range(1, 2, 1), hardState: { term: 1, vote: 'a', commit: 9 } }, true);
      const again = await reopen(f, s);
      await expect(again.load()).rejects.toMatchObject({ code: 'BASALT_IO' });
      await again.close();
    }));
  });
}
