import { describe, expect, it } from 'vitest';
import { ErrorCode } from '@basalt/stdx';
import { downOutIntervalMs } from './meta.js';

describe('--down-out-interval', () => {
  it('takes ms, s, m, h and d', () => {
    expect(downOutIntervalMs('500ms')).toBe(500);
    expect(downOutIntervalMs('90s')).toBe(90_000);
    expect(downOutIntervalMs('10m')).toBe(600_000);
    expect(downOutIntervalMs('2h')).toBe(7_200_000);
    expect(downOutIntervalMs('7d')).toBe(7 * 86_400_000);
    expect(downOutIntervalMs(undefined)).toBeUndefined();
  });

  it('refuses other units, zero and more than 7 days', () => {
    for (const bad of ['1w', '0s', '8d', '10', 'h']) expect(() => downOutIntervalMs(bad)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }));
  });
});
