import { describe, expect, it } from 'vitest';
import { humanAge, humanDuration, utcClock } from './human-time.js';

describe('human times', () => {
  it('says how long ago, never for 0, and clamps a time in the future to 0 s', () => {
    const now = 1_000_000_000;
    expect([now - 3_400, now - 300_000, now - 3 * 3_600_000, 0, now + 5_000].map((t) => humanAge(t, now))).toEqual(['3 s ago', '5 min ago', '3 h ago', 'never', '0 s ago']);
  });

  it('formats durations and the UTC time of day', () => {
    expect([59, 600, 36_000].map(humanDuration)).toEqual(['59 s', '10 min', '10 h']);
    expect(utcClock(Date.UTC(2026, 0, 2, 3, 4, 5, 999))).toBe('03:04:05');
  });
});
