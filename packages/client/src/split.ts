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

/**
 * The common case of splitting without arrays: the one slice of a non-empty range that lies in one
 * extent and is at most `requestBytesMax` long (one data-plane request); undefined otherwise.
 */
export function singleSlice(offset: number, length: number, extentSizeBytes: number, requestBytesMax: number): ExtentSlice | undefined {
  if (length === 0 || length > requestBytesMax) return undefined;
  const index = Math.floor(offset / extentSizeBytes);
  const inExtent = offset - index * extentSizeBytes;
  if (inExtent + length > extentSizeBytes) return undefined;
  return { index, offset: inExtent, length, bufferOffset: 0 };
}
