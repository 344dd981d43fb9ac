import { assert } from '@basalt/stdx';

/** One piece of a volume range that falls inside a single extent. */
export interface ExtentSlice {
  /** Extent index in the volume. */
  readonly index: number;
  /** Offset inside the extent. */
  readonly offset: number;
  readonly length: number;
  /** Offset of this piece inside the caller's buffer (or range). */
  readonly bufferOffset: number;
}

/** Cuts [offset, offset + length) of a volume into per-extent slices, in order. */
export function splitByExtent(offset: number, length: number, extentSizeBytes: number): ExtentSlice[] {
  assert(Number.isSafeInteger(offset) && offset >= 0, 'offset');
  assert(Number.isSafeInteger(length) && length >= 0, 'length');
  const slices: ExtentSlice[] = [];
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const index = Math.floor(pos / extentSizeBytes);
    const inExtent = pos - index * extentSizeBytes;
    const n = Math.min(extentSizeBytes - inExtent, end - pos);
    slices.push({ index, offset: inExtent, length: n, bufferOffset: pos - offset });
    pos += n;
  }
  return slices;
}
