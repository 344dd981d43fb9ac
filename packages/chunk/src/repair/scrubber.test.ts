import { describe, expect, it } from 'vitest';
import { limits, monotonicClock, TokenBucket } from '@basalt/stdx';
import { ChunkMetrics } from '../server/metrics.js';
import { MemoryDisk, MemoryExtentStore } from '../store/memory-extent-store.js';
import { RepairBudget } from './repair-budget.js';
import { Scrubber } from './scrubber.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Scrubber', () => {
  it('ends its loop when the repair budget closes under it, before anyone stops it (chunkd closes the budget first)', async () => {
    const budget = new RepairBudget(monotonicClock);
    const logs: string[] = [];
    const bucket = new TokenBucket(limits.scrubRateBytesPerSecDefault, limits.repairBurstBytes, monotonicClock.nowMs());
    const scrubber: Scrubber = new Scrubber({
      selfId: 'c1', store: MemoryExtentStore.open(new MemoryDisk()), peer: () => { throw new Error('no peers here'); }, budget, buckets: [bucket],
      metrics: new ChunkMetrics(), clock: monotonicClock, wallMs: () => Date.now(), intervalMs: 60_000,
      // A loop that retries a closed budget never yields to the event loop: stop it after a few rounds so the test can fail instead of hanging.
      log: (line) => {
        logs.push(line);
        if (logs.length >= 3) void scrubber.stop();
      },
    });
    scrubber.start();
    await turn(); // the loop now waits in budget.sleep for the first pass
    budget.close();
    await turn();
    expect(logs).toEqual([]);
    await scrubber.stop();
  });
});
