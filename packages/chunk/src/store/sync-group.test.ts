import { describe, expect, it } from 'vitest';
import { SyncGroup } from './sync-group.js';

/** A SyncGroup whose fdatasyncs are recorded and finish when `release` is called. */
function group(): { g: SyncGroup; synced: number[][]; release: () => void } {
  const synced: number[][] = [];
  let round: number[] = [];
  let waiting: (() => void)[] = [];
  const g = new SyncGroup((fd) => {
    if (round.length === 0) synced.push(round);
    round.push(fd);
    return new Promise<void>((resolve) => waiting.push(resolve));
  });
  const release = (): void => {
    const w = waiting;
    waiting = [];
    round = [];
    for (const r of w) r();
  };
  return { g, synced, release };
}

describe('group commit', () => {
  it('syncs only the files its callers name, and every dirty file for a caller that names none', async () => {
    const { g, synced, release } = group();
    for (const fd of [1, 2, 3]) g.markDirty(fd);
    const a = g.sync(1);
    release();
    await a;
    expect(synced).toEqual([[1]]);
    const all = g.sync();
    release();
    await all;
    expect(synced).toEqual([[1], [2, 3]]);
  });

  it('answers a caller that arrives during a round with the next one, which takes what it named and what was dirtied meanwhile', async () => {
    const { g, synced, release } = group();
    g.markDirty(1);
    g.markDirty(2);
    const first = g.sync(1);
    g.markDirty(1);
    const second = g.sync(1);
    const third = g.sync(2);
    let secondDone = false;
    void second.then(() => (secondDone = true));
    release();
    await first;
    await Promise.resolve();
    expect(secondDone).toBe(false);
    expect(synced).toEqual([[1], [1, 2]]);
    release();
    await Promise.all([second, third]);
    expect(synced).toEqual([[1], [1, 2]]);
  });

  it('keeps a file dirty after its fdatasync failed', async () => {
    let fail = true;
    const synced: number[] = [];
    const g = new SyncGroup((fd) => {
      synced.push(fd);
      return fail ? Promise.reject(new Error('EIO')) : Promise.resolve();
    });
    g.markDirty(7);
    await expect(g.sync(7)).rejects.toThrow('EIO');
    fail = false;
    await g.sync();
    expect(synced).toEqual([7, 7]);
  });
});
