import { afterAll, describe, expect, it } from 'vitest';
import { unsafeTestingKnobNames } from '../core/types.js';
import { formatFailure, runSimulationCatching, type SimOptions, type SimResult } from './simulation.js';

/**
 * Seeds tried per broken rule before the test gives up: the default swarm must catch each
 * one within this many seeds (3 nodes, seeds 1, 2, ... in order, stopping at the first
 * failure). The slowest knob needs about 120 today; each seed takes tens of milliseconds.
 */
const seedsMax = 300;

interface Caught {
  readonly mutation: string;
  readonly seed: number;
  readonly checkers: string;
}

const caught: Caught[] = [];

/** The first seed whose run fails, or undefined after `seedsMax`. */
function firstFailure(options: Omit<SimOptions, 'seed'>): SimResult | undefined {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const r = runSimulationCatching({ ...options, seed });
    if (!r.ok) return r;
  }
  return undefined;
}

function expectCaught(mutation: string, broken: Omit<SimOptions, 'seed'>): SimResult {
  const failed = firstFailure(broken);
  expect(failed, `${mutation}: no seed in 1..${seedsMax} failed a checker`).toBeDefined();
  const r = failed!;
  // The same seed passes without the mutation: the mutation, not the harness, failed it.
  const fixed = runSimulationCatching({ seed: r.seed, nodes: broken.nodes });
  expect(fixed.ok, `${mutation}: seed ${r.seed} fails without it too:\n${formatFailure(fixed)}`).toBe(true);
  caught.push({ mutation, seed: r.seed, checkers: [...new Set(r.violations.map((v) => v.kind))].join(', ') });
  return r;
}

describe('mutation: the default swarm catches every broken Raft rule by itself', () => {
  afterAll(() => {
    const lines = caught.map((c) => `  ${c.mutation.padEnd(26)} caught by ${c.checkers.padEnd(40)} at seed ${c.seed}`);
    console.log(`mutations caught by the default 3-node swarm (seeds tried: the first failing one, at most ${seedsMax}):\n${lines.join('\n')}`);
  });

  for (const knob of unsafeTestingKnobNames) {
    it(`unsafeTestingKnobs.${knob}`, { timeout: 600_000 }, () => {
      const r = expectCaught(knob, { nodes: 3, knobs: { [knob]: true } });
      // Caught by a checker, not only by an assertion that happened to trip.
      expect(r.violations.some((v) => v.kind !== 'exception'), formatFailure(r)).toBe(true);
    });
  }

  it('nodes that serve reads locally, without ReadIndex (a harness bug): linearizability', { timeout: 600_000 }, () => {
    const r = expectCaught('localReads', { nodes: 3, unsafeLocalReads: true });
    expect(r.violations.map((v) => v.kind)).toEqual(['linearizability']);
    expect(r.violations[0]?.message).toContain('read(');
  });
});
