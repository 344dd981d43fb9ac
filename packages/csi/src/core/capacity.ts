import { limits } from '@basalt/stdx';
import { Code, CsiStatus, invalid } from './csi-status.js';

/** A CSI CapacityRange: 0 means unset. */
export interface CapacityRange {
  readonly requiredBytes: number;
  readonly limitBytes: number;
}

/**
 * The volume size for a capacity range: required rounded up to whole extents (Basalt volumes are
 * whole extents), one extent when nothing is required. OUT_OF_RANGE when that exceeds the limit or
 * the largest volume; INVALID_ARGUMENT for negative values or a limit below the requirement.
 */
export function volumeSizeFor(range: CapacityRange | null, extentSizeBytes: number): number {
  const required = range?.requiredBytes ?? 0;
  const limit = range?.limitBytes ?? 0;
  if (required < 0 || limit < 0) throw invalid('capacity_range values must not be negative');
  if (limit !== 0 && limit < required) throw invalid(`capacity_range limit_bytes ${limit} is below required_bytes ${required}`);
  const size = Math.max(1, Math.ceil(required / extentSizeBytes)) * extentSizeBytes;
  if (limit !== 0 && size > limit) {
    throw new CsiStatus(Code.outOfRange, `no size of whole ${extentSizeBytes}-byte extents lies in [${required}, ${limit}]`);
  }
  if (size > limits.volumeSizeBytesMax) throw new CsiStatus(Code.outOfRange, `${size} bytes exceeds the largest volume, ${limits.volumeSizeBytesMax} bytes`);
  return size;
}

/** Whether an existing volume of sizeBytes satisfies the range (for idempotent CreateVolume). */
export function sizeSatisfies(sizeBytes: number, range: CapacityRange | null): boolean {
  if (range === null) return true;
  return sizeBytes >= range.requiredBytes && (range.limitBytes === 0 || sizeBytes <= range.limitBytes);
}
