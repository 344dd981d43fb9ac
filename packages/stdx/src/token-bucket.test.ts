import { describe, expect, it } from 'vitest';
import { Prng } from './prng.js';
import { TokenBucket } from './token-bucket.js';

const SEED = Number(process.env.SEED ?? 7);

describe('TokenBucket', () => {
  it('grants the burst at once, then makes callers wait for the rate', () => {
    const b = new TokenBucket(1000, 500, 0);
    expect(b.reserve(500, 0)).toBe(0);
    expect(b.reserve(100, 0)).toBe(100); // 100 bytes at 1000 B/s
    expect(b.reserve(100, 0)).toBe(200); // queued behind the first debt
  });

  it('refills at the rate up to the burst, never beyond', () => {
    const b = new TokenBucket(1000, 500, 0);
    b.reserve(500, 0);
    expect(b.available(250)).toBe(250);
    expect(b.available(10_000)).toBe(500);
  });

  it('grants a reservation larger than the burst and charges its debt to later ones', () => {
    const b = new TokenBucket(1000, 100, 0);
    expect(b.reserve(1100, 0)).toBe(1000);
    expect(b.reserve(1, 1000)).toBe(1);
  });

  it('with rate 0 never makes anyone wait', () => {
    const b = new TokenBucket(0, 1, 0);
    expect(b.unlimited).toBe(true);
    expect(b.reserve(1 << 30, 0)).toBe(0);
    expect(b.reserve(1 << 30, 0)).toBe(0);
  });

  it('ignores a clock that steps back', () => {
    const b = new TokenBucket(1000, 1000, 5000);
    b.reserve(1000, 5000);
    expect(b.available(1000)).toBe(0);
    expect(b.available(5500)).toBe(500);
  });

  it('over any schedule of reservations, bytes granted by time t never exceed burst + rate * t', () => {
    for (let run = 0; run < 50; run++) {
      const prng = new Prng(SEED * 1000 + run);
      const rate = prng.int(1, 10_000_000);
      const burst = prng.int(1, 4_000_000);
      const b = new TokenBucket(rate, burst, 0);
      let now = 0;
      let granted = 0;
      for (let i = 0; i < 200; i++) {
        now += prng.int(0, 50);
        const bytes = prng.int(0, 2_000_000);
        const waitMs = b.reserve(bytes, now);
        expect(waitMs, `SEED=${SEED * 1000 + run}`).toBeGreaterThanOrEqual(0);
        granted += bytes;
        // The bytes become usable at now + waitMs; by then the budget covers them.
        expect(granted, `SEED=${SEED * 1000 + run}`).toBeLessThanOrEqual(burst + (rate * (now + waitMs)) / 1000 + 1);
      }
    }
  });
});
