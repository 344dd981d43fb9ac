import { describe, expect, it } from 'vitest';
import { limits } from '@basalt/stdx';
import { sizeSatisfies, volumeSizeFor } from './capacity.js';
import { Code, CsiStatus } from './csi-status.js';

const MiB = 2 ** 20;

function codeOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof CsiStatus) return err.code;
    throw err;
  }
  return -1;
}

describe('volume size for a capacity range', () => {
  it('is one extent when nothing is asked', () => {
    expect(volumeSizeFor(null, 64 * MiB)).toBe(64 * MiB);
    expect(volumeSizeFor({ requiredBytes: 0, limitBytes: 0 }, 4 * MiB)).toBe(4 * MiB);
  });

  it('rounds the requirement up to whole extents', () => {
    expect(volumeSizeFor({ requiredBytes: 100 * MiB, limitBytes: 0 }, 64 * MiB)).toBe(128 * MiB);
    expect(volumeSizeFor({ requiredBytes: 128 * MiB, limitBytes: 128 * MiB }, 64 * MiB)).toBe(128 * MiB);
  });

  it('is OUT_OF_RANGE when no whole number of extents fits under the limit', () => {
    expect(codeOf(() => volumeSizeFor({ requiredBytes: 100 * MiB, limitBytes: 120 * MiB }, 64 * MiB))).toBe(Code.outOfRange);
    expect(codeOf(() => volumeSizeFor({ requiredBytes: limits.volumeSizeBytesMax + 1, limitBytes: 0 }, 64 * MiB))).toBe(Code.outOfRange);
  });

  it('refuses negative values and a limit below the requirement', () => {
    expect(codeOf(() => volumeSizeFor({ requiredBytes: -1, limitBytes: 0 }, 64 * MiB))).toBe(Code.invalidArgument);
    expect(codeOf(() => volumeSizeFor({ requiredBytes: 2 * MiB, limitBytes: MiB }, MiB))).toBe(Code.invalidArgument);
  });

  it('an existing size satisfies a range it lies in', () => {
    expect(sizeSatisfies(128 * MiB, null)).toBe(true);
    expect(sizeSatisfies(128 * MiB, { requiredBytes: 100 * MiB, limitBytes: 0 })).toBe(true);
    expect(sizeSatisfies(128 * MiB, { requiredBytes: 200 * MiB, limitBytes: 0 })).toBe(false);
    expect(sizeSatisfies(128 * MiB, { requiredBytes: 0, limitBytes: 64 * MiB })).toBe(false);
  });
});
