import { describe, expect, it } from 'vitest';
import { ManualClock } from '@basalt/stdx';
import { RepairBudget } from './repair-budget.js';
import { TokenBucket } from '@basalt/stdx';

describe('RepairBudget', () => {
  it('lets bytes within every bucket through at once', async () => {
    const clock = new ManualClock();
    const budget = new RepairBudget(clock);
    await budget.take([new TokenBucket(1000, 500, 0), new TokenBucket(0, 1, 0)], 500);
  });

  it('ends a wait with BASALT_CLOSED when closed, and refuses takes after', async () => {
    const clock = new ManualClock();
    const budget = new RepairBudget(clock);
    const slow = new TokenBucket(1, 1, 0);
    const waiting = budget.take([slow], 3600); // an hour at 1 B/s
    budget.close();
    await expect(waiting).rejects.toMatchObject({ code: 'BASALT_CLOSED' });
    await expect(budget.take([slow], 1)).rejects.toMatchObject({ code: 'BASALT_CLOSED' });
  });

  it('waits for the slowest of the buckets', async () => {
    const clock = new ManualClock();
    const budget = new RepairBudget(clock);
    const fast = new TokenBucket(0, 1, 0);
    const slow = new TokenBucket(1, 1, 0);
    let done = false;
    const waiting = budget.take([fast, slow], 3600).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    budget.close();
    await expect(waiting).rejects.toMatchObject({ code: 'BASALT_CLOSED' });
  });
});
