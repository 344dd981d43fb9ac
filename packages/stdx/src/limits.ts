import { assert } from './assert.js';

/**
 * Every bound in Basalt, with units in the names. Relations between them are
 * asserted below, when the module loads.
 */
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

export const limits = {
  /** Extent size bounds and default; extents are powers of two. */
  extentSizeBytesMin: 1 * MiB,
  extentSizeBytesMax: 1 * GiB,
  extentSizeBytesDefault: 64 * MiB,
  /** Checksum granularity: one CRC32C per block. */
  checksumBlockBytes: 4 * KiB,
  /** Largest volume one metadata record may describe. */
  volumeSizeBytesMax: 2 ** 50,
  replicationFactorMax: 5,
  volumeNameBytesMax: 128,
  /** Largest payload of one data-plane frame. */
  dataFrameBytesMax: 32 * MiB + 64 * KiB,
  /** Largest single read or write request on the data plane. */
  ioRequestBytesMax: 32 * MiB,
  /** Bytes of requests in flight on one data-plane connection. */
  connectionInflightBytesMax: 64 * MiB,
  /** Raft: proposals and appends. */
  raftInflightAppendsMax: 256,
  raftMaxEntriesBytesPerAppend: 1 * MiB,
  raftUncommittedBytesMax: 64 * MiB,
  raftEntryBytesMax: 1 * MiB,
} as const;

assert(limits.extentSizeBytesMin <= limits.extentSizeBytesDefault, 'default extent below minimum');
assert(limits.extentSizeBytesDefault <= limits.extentSizeBytesMax, 'default extent above maximum');
assert(limits.extentSizeBytesMin % limits.checksumBlockBytes === 0, 'extent not a multiple of checksum blocks');
assert(limits.ioRequestBytesMax < limits.dataFrameBytesMax, 'a request must fit in one frame with its header');
assert(limits.dataFrameBytesMax <= limits.connectionInflightBytesMax, 'one frame must fit in the in-flight budget');
assert(limits.raftEntryBytesMax <= limits.raftUncommittedBytesMax, 'one entry must fit in the uncommitted budget');

/** True for 1, 2, 4, ... up to 2^52 (safe for sizes beyond 32 bits). */
export function isPowerOfTwo(n: number): boolean {
  if (!Number.isSafeInteger(n) || n <= 0) return false;
  while (n > 1) {
    if (n % 2 !== 0) return false;
    n /= 2;
  }
  return true;
}
