import { describe, expect, it } from 'vitest';
import { Scheduler } from './scheduler.js';

describe('Scheduler', () => {
  it('runs events in time order and hashes the same sequence the same way', async () => {
    const trace = async (): Promise<{ order: string[]; hash: string }> => {
      const s = new Scheduler();
      const order: string[] = [];
      s.at(20, 'b', () => order.push(`b@${s.nowMs()}`));
      s.at(10, 'a', () => s.at(5, 'c', () => order.push(`c@${s.nowMs()}`)));
      await s.run(100);
      return { order, hash: s.traceHash() };
    };
    const first = await trace();
    expect(first.order).toEqual(['c@15', 'b@20']);
    expect((await trace()).hash).toBe(first.hash);
  });

  it('fails instead of spinning when an event reschedules itself with no delay', async () => {
    const s = new Scheduler();
    const loop = (): void => void s.at(0, 'again', loop);
    s.at(5, 'again', loop);
    await expect(s.run(1_000)).rejects.toThrow(/simulated time stopped at 5 ms/);
  }, 60_000);
});
