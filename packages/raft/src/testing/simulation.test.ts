import { describe, expect, it } from 'vitest';
import { formatFailure, replayCommand, runSimulation } from './simulation.js';
import { runSwarm } from './swarm.js';

describe('simulation determinism', () => {
  it('the same seed gives the same trace, twice, for 3 and 5 nodes', { timeout: 600_000 }, () => {
    for (const nodes of [3, 5]) {
      const a = runSimulation({ seed: 4242, nodes });
      const b = runSimulation({ seed: 4242, nodes });
      expect(a.ok, formatFailure(a)).toBe(true);
      expect(b.traceDigest).toBe(a.traceDigest);
      expect(b.stats).toEqual(a.stats);
    }
  });

  it('kept trace lines hash to the digest and differ between seeds', { timeout: 600_000 }, () => {
    const a = runSimulation({ seed: 7, nodes: 3, keepTrace: true });
    const b = runSimulation({ seed: 8, nodes: 3, keepTrace: true });
    expect(a.trace?.length).toBe(a.stats.events);
    expect(a.traceDigest).not.toBe(b.traceDigest);
    expect(a.trace).not.toEqual(b.trace);
  });

  it('a run does real work: elections, commits, checked reads, faults', { timeout: 600_000 }, () => {
    const r = runSimulation({ seed: 11, nodes: 5 });
    expect(r.ok, formatFailure(r)).toBe(true);
    expect(r.stats.elections).toBeGreaterThan(0);
    expect(r.stats.commits).toBeGreaterThan(10);
    expect(r.stats.readsChecked).toBeGreaterThan(10);
    expect(Object.values(r.stats.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});

describe('the shipped Ready order', () => {
  it('a leader crashing between its send and its fsync is among the crash points, aimed and while its disk is slow', { timeout: 600_000 }, () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 60 && seen.size < 2; seed++) {
      const r = runSimulation({ seed, nodes: 3, keepTrace: true });
      expect(r.ok, formatFailure(r)).toBe(true);
      for (const line of r.trace ?? []) {
        const m = /^crash n\d+ (\S+).*\(leader sent, not synced\)$/.exec(line);
        if (m !== null) seen.add(m[1] === 'before_wait' ? 'aimed before its fsync' : 'while its fsync was pending');
      }
    }
    expect([...seen].sort()).toEqual(['aimed before its fsync', 'while its fsync was pending']);
  });
});

describe('replay', () => {
  it('prints the seed and a one-line command that reruns the same configuration', { timeout: 600_000 }, () => {
    expect(replayCommand({ seed: 1234, nodes: 5 })).toBe('pnpm sim --seed 1234 --nodes 5');
    expect(replayCommand({ seed: 9, nodes: 3, profile: 'figure8', knobs: { commitPriorTermByCount: true }, unsafeLocalReads: true }))
      .toBe('pnpm sim --seed 9 --nodes 3 --profile figure8 --unsafe commitPriorTermByCount,localReads');
    const failed = runSimulation({ seed: 1, nodes: 3, unsafeLocalReads: true });
    expect(failed.ok).toBe(false);
    expect(formatFailure(failed)).toMatch(/^SEED=1 nodes=3 failed:\n/);
    expect(formatFailure(failed)).toContain('replay: pnpm sim --seed 1 --nodes 3 --unsafe localReads');
  });

  it('a seed that throws is reported with its seed and replay command, and the swarm goes on', { timeout: 600_000 }, () => {
    let runs = 0;
    const onTrace = (line: string): void => {
      if (line.startsWith('plan ')) runs++;
      if (runs === 2 && line.includes('faults stop')) throw new Error('boom in the second run');
    };
    const summary = runSwarm({ nodes: 3, onTrace }, 1, 3);
    expect(summary.runs).toBe(3);
    expect(summary.passed).toBe(2);
    expect(summary.failed.map((r) => r.seed)).toEqual([2]);
    const text = formatFailure(summary.failed[0]!);
    expect(text).toMatch(/^SEED=2 nodes=3 failed:\n {2}exception: Error: boom in the second run/);
    expect(text).toContain('replay: pnpm sim --seed 2 --nodes 3');
  });

  it('rejects a cluster size it does not simulate', { timeout: 600_000 }, () => {
    expect(() => runSimulation({ seed: 1, nodes: 4 })).toThrow(/nodes must be 3 or 5/);
  });
});
