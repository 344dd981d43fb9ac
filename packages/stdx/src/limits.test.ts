import { describe, expect, it } from 'vitest';
import { isPowerOfTwo, GiB } from './limits.js';

describe('isPowerOfTwo', () => {
  it('accepts powers of two beyond 32 bits and rejects the rest', () => {
    expect(isPowerOfTwo(1)).toBe(true);
    expect(isPowerOfTwo(64 * 1024 * 1024)).toBe(true);
    expect(isPowerOfTwo(8 * GiB)).toBe(true);
    expect(isPowerOfTwo(2 ** 40)).toBe(true);
    expect(isPowerOfTwo(0)).toBe(false);
    expect(isPowerOfTwo(-4)).toBe(false);
    expect(isPowerOfTwo(3 * 2 ** 33)).toBe(false);
    expect(isPowerOfTwo(1.5)).toBe(false);
  });
});
