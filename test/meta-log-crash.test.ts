/**
 * The LevelDB Raft log under a real crash: a child process appends synced batches (and takes
 * snapshots with compaction) until it is killed with SIGKILL; the log that loads afterwards holds
 * every batch it acknowledged, contiguous, and nothing torn. Repeated over several kills.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LevelLogStore } from '@basalt/meta';
import { ProcessScope, waitFor } from './lib/process.js';

const scope = new ProcessScope();
afterAll(() => scope.cleanup());

const child = join(import.meta.dirname, 'lib', 'log-store-child.mjs');

function lastAcked(log: string): number {
  const all = [...log.matchAll(/^acked (\d+)$/gm)];
  return Number(all.at(-1)?.[1] ?? 0);
}

describe('LevelLogStore under SIGKILL', () => {
  it('keeps every acknowledged batch, contiguous, across repeated kills', async () => {
    const dir = join(scope.tempDir('basalt-log-crash'), 'raft');
    let acked = 0;
    for (let round = 1; round <= 4; round++) {
      const p = scope.spawnNode(`writer-${round}`, child, [dir, String(round)]);
      const target = acked + 300 + round * 37;
      await waitFor(`writer ${round} to ack index ${target}`, () => lastAcked(p.log()) >= target, { process: p, timeoutMs: 120_000, intervalMs: 5 });
      p.signal('SIGKILL');
      await p.exited;
      acked = lastAcked(p.log());
      const store = new LevelLogStore(dir);
      const log = await store.load();
      await store.close();
      const last = log.entries.at(-1)?.index ?? log.snapshot.meta.index;
      expect(last).toBeGreaterThanOrEqual(acked);
      expect(log.hardState.commit).toBeGreaterThanOrEqual(acked);
      // A snapshot is whole (the child's head and two pieces) or absent, never torn.
      if (log.snapshot.meta.index > 0) expect([...log.snapshot.data]).toEqual([0, 0, 0, 0, ...Array<number>(8).fill(1), ...Array<number>(8).fill(2)]);
      log.entries.forEach((e, i) => {
        expect(e.index).toBe(log.snapshot.meta.index + 1 + i);
        expect(new TextDecoder().decode(e.data)).toBe(`e${e.index}`);
      });
    }
  });
});
