import { describe, expect, it } from 'vitest';
import type { ViolationKind } from './safety-checker.js';
import { runSimulation, type SimOptions, type SimResult } from './simulation.js';

/** Runs seeds 1, 2, ... until one fails; returns it (or undefined after `maxSeeds`). */
function firstFailure(options: Omit<SimOptions, 'seed'>, maxSeeds: number): SimResult | undefined {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const r = runSimulation({ ...options, seed });
    if (!r.ok) return r;
  }
  return undefined;
}

function kinds(r: SimResult | undefined): ViolationKind[] {
  return r?.violations.map((v) => v.kind) ?? [];
}

describe('the checkers bite when the protocol is broken on purpose', () => {
  it('a node that grants every vote yields two leaders in a term: election safety fails', { timeout: 600_000 }, () => {
    const broken = firstFailure({ nodes: 5, knobs: { grantEveryVote: true } }, 200);
    expect(broken, 'no seed in 1..200 broke election safety').toBeDefined();
    expect(kinds(broken)).toContain('election_safety');
    // The same seeds without the knob pass: the knob, not the harness, broke them.
    const fixed = runSimulation({ seed: broken!.seed, nodes: 5 });
    expect(fixed.ok).toBe(true);
  });

  it('a leader committing an earlier term\'s entry by counting replicas loses a committed entry (figure 8)', { timeout: 600_000 }, () => {
    const broken = firstFailure({ nodes: 3, profile: 'figure8', knobs: { commitPriorTermByCount: true } }, 600);
    expect(broken, 'no seed in 1..600 broke leader completeness').toBeDefined();
    const found = kinds(broken);
    expect(found.some((k) => k === 'leader_completeness' || k === 'state_machine_safety'), found.join(',')).toBe(true);
    const fixed = runSimulation({ seed: broken!.seed, nodes: 3, profile: 'figure8' });
    expect(fixed.ok, `seed ${broken!.seed} fails without the knob: ${fixed.violations[0]?.message}`).toBe(true);
  });

  it('nodes that serve reads locally, without ReadIndex, give stale reads: linearizability fails', { timeout: 600_000 }, () => {
    const broken = firstFailure({ nodes: 3, unsafeLocalReads: true }, 50);
    expect(broken, 'no seed in 1..50 gave a stale read').toBeDefined();
    expect(kinds(broken)).toEqual(['linearizability']);
    expect(broken!.violations[0]?.message).toContain('read(');
  });
});
