import { describe, expect, it } from 'vitest';
import { ErrorCode } from '@basalt/stdx';
import { parseSinceMs } from './audit.js';

describe('basalt audit --since', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  it('takes a time ago in s, m, h or d, or an ISO time', () => {
    expect(parseSinceMs('30s', now)).toBe(now - 30_000);
    expect(parseSinceMs('15m', now)).toBe(now - 15 * 60_000);
    expect(parseSinceMs('2h', now)).toBe(now - 2 * 3_600_000);
    expect(parseSinceMs('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseSinceMs('2026-05-31T00:00:00Z', now)).toBe(Date.parse('2026-05-31T00:00:00Z'));
  });

  it('refuses anything else with BASALT_INVALID_ARGUMENT', () => {
    for (const bad of ['', '10', '5 min', 'yesterday', '1y']) expect(() => parseSinceMs(bad, now)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }) as Error);
  });
});
