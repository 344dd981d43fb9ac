import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { describe, expect, it } from 'vitest';
import type { Entry, Snapshot } from '@basalt/raft';
import { encodeHardState, encodeSnapshot } from './raft-codec.js';
import { logStoreConformance } from './log-store.conformance.js';
import type { LogStore } from './log-store.js';
import { LevelLogStore } from './level-log-store.js';
import { MemoryDisk, MemoryLogStore } from './memory-log-store.js';

logStoreConformance('MemoryLogStore', () => {
  const disk = new MemoryDisk();
  return {
    open: () => new MemoryLogStore(disk),
    crash: () => disk.crash(),
    corruptWithGap: () => {
      disk.current.entries.splice(2, 1);
      disk.synced = { ...disk.current };
      return Promise.resolve();
    },
    cleanup: () => undefined,
  };
});

logStoreConformance('LevelLogStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-log-'));
  const open: LogStore[] = [];
  return {
    open: () => {
      const s = new LevelLogStore(join(dir, 'raft'));
      open.push(s);
      return s;
    },
    corruptWithGap: async (store) => {
      await store.close();
      const db = new Level<string, string>(join(dir, 'raft'));
      await db.del(`e${'3'.padStart(16, '0')}`);
      await db.close();
    },
    cleanup: async () => {
      for (const s of open) await s.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('LevelLogStore snapshot layout', () => {
  const snap = (index: number, data: string): Snapshot => ({ meta: { index, term: 1, conf: { voters: ['a'], learners: [] } }, data: new TextEncoder().encode(data) });
  const entries = (to: number): Entry[] => Array.from({ length: to }, (_, i) => ({ index: i + 1, term: 1, type: 'Normal' as const, data: new Uint8Array([i]) }));
  const keys = async (path: string, prefix: string): Promise<string[]> => {
    const db = new Level<string, Uint8Array>(path, { valueEncoding: 'view' });
    const out: string[] = [];
    for await (const key of db.keys({ gte: prefix, lt: String.fromCharCode(prefix.charCodeAt(0) + 1) })) out.push(key);
    await db.close();
    return out;
  };

  it('starts from a snapshot of the inline format and replaces it with pieces at the next snapshot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'basalt-log-'));
    const path = join(dir, 'raft');
    try {
      const db = new Level<string, Uint8Array>(path, { valueEncoding: 'view' });
      await db.put('s', encodeSnapshot(snap(3, 'inline state')));
      await db.put('h', encodeHardState({ term: 1, vote: 'a', commit: 3 }));
      await db.close();
      const store = new LevelLogStore(path);
      const log = await store.load();
      expect(log.snapshot).toEqual(snap(3, 'inline state'));
      await store.save({ entries: entries(6).slice(3), hardState: { term: 1, vote: 'a', commit: 6 } }, true);
      const sink = store.beginSnapshot();
      await sink.append([new TextEncoder().encode('pieces')]);
      expect(await sink.commit(snap(5, '').meta, new TextEncoder().encode('in '), 5)).toBe('saved');
      await store.close();
      expect(await keys(path, 's')).toEqual([]);
      const again = new LevelLogStore(path);
      expect((await again.load()).snapshot).toEqual(snap(5, 'in pieces'));
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the pieces of one snapshot only: the previous generation, an aborted one and a torn one are deleted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'basalt-log-'));
    const path = join(dir, 'raft');
    const piece = (n: number): Uint8Array => new Uint8Array(16).fill(n);
    try {
      const store = new LevelLogStore(path);
      await store.load();
      await store.save({ entries: entries(9), hardState: { term: 1, vote: 'a', commit: 9 } }, true);
      for (const index of [3, 6]) {
        const sink = store.beginSnapshot();
        await sink.append([piece(1), piece(2)]);
        await sink.append([piece(3)]);
        await sink.commit(snap(index, '').meta, new Uint8Array(0), index);
      }
      const aborted = store.beginSnapshot();
      await aborted.append([piece(4)]);
      await aborted.abort();
      expect(await keysAfterClose(store, path)).toHaveLength(4);
      const reopened = new LevelLogStore(path);
      await reopened.load();
      await reopened.beginSnapshot().append([piece(5), piece(6)]);
      await reopened.close();
      expect(await keys(path, 'p')).toHaveLength(6);
      const last = new LevelLogStore(path);
      const log = await last.load();
      expect(log.snapshot.meta.index).toBe(6);
      expect(log.snapshot.data).toEqual(new Uint8Array([...piece(1), ...piece(2), ...piece(3)]));
      await last.close();
      expect(await keys(path, 'p')).toHaveLength(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to load a snapshot with a missing piece', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'basalt-log-'));
    const path = join(dir, 'raft');
    try {
      const store = new LevelLogStore(path);
      await store.load();
      await store.save({ entries: entries(4), hardState: { term: 1, vote: 'a', commit: 4 } }, true);
      const sink = store.beginSnapshot();
      await sink.append([new Uint8Array([1]), new Uint8Array([2])]);
      await sink.commit(snap(4, '').meta, new Uint8Array(0), 4);
      const pieces = await keysAfterClose(store, path);
      const db = new Level<string, Uint8Array>(path, { valueEncoding: 'view' });
      await db.del(pieces[1] as string);
      await db.close();
      const again = new LevelLogStore(path);
      await expect(again.load()).rejects.toMatchObject({ code: 'BASALT_IO' });
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  async function keysAfterClose(store: LevelLogStore, path: string): Promise<string[]> {
    await store.close();
    return keys(path, 'p');
  }
});
