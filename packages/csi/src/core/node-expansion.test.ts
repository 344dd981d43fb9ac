import { describe, expect, it } from 'vitest';
import { Code, CsiStatus } from './csi-status.js';
import { expansionCapacity } from './node-expansion.js';

const MiB = 2 ** 20;

function codeOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (err) {
    return err instanceof CsiStatus ? err.code : undefined;
  }
  return undefined;
}

describe('expansionCapacity', () => {
  it('reports the device size when the device has the volume size', () => {
    expect(expansionCapacity('v', 128 * MiB, 128 * MiB, 128 * MiB)).toBe(128 * MiB);
    expect(expansionCapacity('v', 128 * MiB, 128 * MiB, 0)).toBe(128 * MiB);
    expect(expansionCapacity('v', 128 * MiB, 128 * MiB, 100 * MiB)).toBe(128 * MiB);
  });

  it('refuses with FAILED_PRECONDITION while the device still has the size it was attached with', () => {
    expect(codeOf(() => expansionCapacity('v', 64 * MiB, 128 * MiB, 128 * MiB))).toBe(Code.failedPrecondition);
    expect(codeOf(() => expansionCapacity('v', 64 * MiB, 128 * MiB, 0))).toBe(Code.failedPrecondition);
  });

  it('refuses with OUT_OF_RANGE a required size the volume has not grown to', () => {
    expect(codeOf(() => expansionCapacity('v', 64 * MiB, 64 * MiB, 128 * MiB))).toBe(Code.outOfRange);
  });
});
