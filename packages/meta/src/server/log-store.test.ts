import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
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
