import { afterAll, describe, expect, it } from 'vitest';
import type { ChunkUnsafeTestingKnob } from '@basalt/chunk/parts';
import { formatFailure, runClusterSim, type ClusterSimResult } from './cluster-sim.js';
import type { ViolationKind } from './checkers.js';

/**
 * Each broken data-path rule (the chunk servers' unsafe testing knobs) must be caught by a
 * checker within `seedsMax` seeds of the default swarm, and the failing seed must pass without
 * the knob (the knob, not the harness, failed it).
 */
const seedsMax = 150;
const caught: string[] = [];

async function firstFailure(knob: ChunkUnsafeTestingKnob): Promise<ClusterSimResult | undefined> {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const r = await runClusterSim({ seed, knobs: { [knob]: true } });
    if (!r.ok) return r;
  }
  return undefined;
}

const expected: Record<ChunkUnsafeTestingKnob, readonly ViolationKind[]> = {
  // A primary that acknowledges before its secondaries applied: the write is missing where it is read.
  ackBeforeReplicated: ['stale_read', 'lost_write'],
  // A fenced replica that still accepts writes: a second primary in an epoch.
  acceptWhileFenced: ['two_primaries', 'stale_read', 'lost_write'],
  // A rebuilding member counted as active (promoted before its copy): it serves reads it cannot.
  promoteBeforeCopy: ['stale_read', 'lost_write'],
};

describe('the checkers catch each broken data-path rule', () => {
  afterAll(() => console.log(`broken rules caught:\n${caught.join('\n')}`));

  for (const knob of Object.keys(expected) as ChunkUnsafeTestingKnob[]) {
    it(`unsafeTestingKnobs.${knob}`, { timeout: 120_000 }, async () => {
      const r = await firstFailure(knob);
      expect(r, `no seed in 1..${seedsMax} failed a checker`).toBeDefined();
      const kinds = new Set(r!.violations.map((v) => v.kind));
      expect(expected[knob].some((k) => kinds.has(k)), formatFailure(r!, { knobs: { [knob]: true } })).toBe(true);
      const fixed = await runClusterSim({ seed: r!.seed });
      expect(fixed.ok, formatFailure(fixed)).toBe(true);
      caught.push(`  ${knob.padEnd(22)} caught by ${[...kinds].join(', ')} at seed ${r!.seed}`);
    });
  }
});
