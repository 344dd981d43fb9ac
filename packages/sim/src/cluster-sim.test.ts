import { describe, expect, it } from 'vitest';
import { formatFailure, runClusterSim, type ClusterSimResult } from './cluster-sim.js';

/**
 * The npm-test slice of the swarm: short fault phases (the CLI runs longer ones). Every seed
 * must pass every checker; a failure prints its SEED=... line and replay command.
 */
const faultMs = 3_000;
const seedsPerSlice = 100;

async function swarm(first: number, count: number): Promise<ClusterSimResult[]> {
  const failed: ClusterSimResult[] = [];
  for (let seed = first; seed < first + count; seed++) {
    const r = await runClusterSim({ seed, faultMs });
    if (!r.ok) failed.push(r);
  }
  return failed;
}

describe('whole-cluster simulation of the data path', () => {
  for (const first of [1, 101, 201]) {
    it(`seeds ${first}..${first + seedsPerSlice - 1} keep every acknowledged write, one primary per epoch, and heal`, { timeout: 120_000 }, async () => {
      const failed = await swarm(first, seedsPerSlice);
      expect(failed.map((r) => formatFailure(r, { faultMs })).join('\n')).toBe('');
    });
  }

  it('a seed replays identically: the same trace hash twice, another seed another one', { timeout: 60_000 }, async () => {
    const a = await runClusterSim({ seed: 7 });
    const b = await runClusterSim({ seed: 7 });
    const c = await runClusterSim({ seed: 8 });
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.stats).toEqual(a.stats);
    expect(c.traceHash).not.toBe(a.traceHash);
  });

  it('a server marked out while alive (hung, then cut off from metad past the down-out interval) registers again, and the extents it alone still held heal (seed 2024)', { timeout: 60_000 }, async () => {
    const r = await runClusterSim({ seed: 2024, faultMs: 15_000 });
    expect(r.ok, formatFailure(r, { faultMs: 15_000 })).toBe(true);
    expect(r.stats.healMs).toBeGreaterThanOrEqual(0);
  });

  it('a rebuilt member that loses power after its promotion still holds what was flushed before it joined (seeds 3136, 3184)', { timeout: 60_000 }, async () => {
    for (const seed of [3136, 3184]) {
      const r = await runClusterSim({ seed, faultMs: 15_000 });
      expect(r.ok, formatFailure(r, { faultMs: 15_000 })).toBe(true);
    }
  });

  it('a write admitted at one epoch and acknowledged after the set moved on is not a second primary (seed 3085)', { timeout: 60_000 }, async () => {
    const r = await runClusterSim({ seed: 3085, faultMs: 15_000 });
    expect(r.ok, formatFailure(r, { faultMs: 15_000 })).toBe(true);
  });

  it('faults happen and the cluster heals from them: crashes, partitions, drains, rebuilds', { timeout: 60_000 }, async () => {
    const totals: Record<string, number> = {};
    let healed = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const r = await runClusterSim({ seed });
      expect(r.ok, formatFailure(r)).toBe(true);
      for (const [k, v] of Object.entries(r.stats.faults)) totals[k] = (totals[k] ?? 0) + v;
      if (r.stats.healMs > 0) healed++;
      expect(r.stats.readsChecked).toBeGreaterThan(0);
    }
    for (const kind of ['crash_process', 'crash_power', 'partition', 'slow', 'hang', 'disk_full', 'bit_flip', 'drain', 'stale_map']) expect(totals[kind] ?? 0, kind).toBeGreaterThan(0);
    expect(healed).toBeGreaterThan(0);
  });
});
