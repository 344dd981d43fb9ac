import { crc32c } from '@node-rs/crc32';
import { assert, limits } from '@basalt/stdx';

/**
 * A byte range of an extent is cut into "pieces" at checksum-block boundaries: a piece is a
 * whole 4 KiB block, or the part of one block the range covers at its head or tail. Writers
 * send and readers receive one CRC32C per piece; for whole blocks it is the block's stored
 * checksum, passed through end to end.
 */
const blockBytes = limits.checksumBlockBytes;

export function pieceCount(offset: number, length: number): number {
  if (length === 0) return 0;
  const first = Math.floor(offset / blockBytes);
  const last = Math.floor((offset + length - 1) / blockBytes);
  return last - first + 1;
}

/** Calls visit(start, end) with byte positions relative to the range, piece by piece. */
export function forEachPiece(offset: number, length: number, visit: (start: number, end: number, i: number) => void): void {
  let pos = 0;
  let i = 0;
  while (pos < length) {
    const end = pieceEnd(offset, length, pos);
    visit(pos, end, i);
    pos = end;
    i++;
  }
}

export function pieceCrcs(offset: number, data: Uint8Array): Uint32Array {
  const crcs = new Uint32Array(pieceCount(offset, data.length));
  const buf = asBuffer(data);
  for (let pos = 0, i = 0; pos < buf.length; i++) {
    const end = pieceEnd(offset, buf.length, pos);
    crcs[i] = crc32c(slice(buf, pos, end));
    pos = end;
  }
  return crcs;
}

/** Index of the first piece whose CRC does not match, or -1. */
export function firstBadPiece(offset: number, data: Uint8Array, crcs: Uint32Array): number {
  assert(crcs.length === pieceCount(offset, data.length), 'one CRC per piece');
  const buf = asBuffer(data);
  for (let pos = 0, i = 0; pos < buf.length; i++) {
    const end = pieceEnd(offset, buf.length, pos);
    if (crc32c(slice(buf, pos, end)) !== crcs[i]) return i;
    pos = end;
  }
  return -1;
}

/** End (relative to the range) of the piece that starts at `pos` (the loops above are per-request hot paths: no closures). */
function pieceEnd(offset: number, length: number, pos: number): number {
  return Math.min(length, pos + blockBytes - ((offset + pos) % blockBytes));
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function slice(buf: Buffer, start: number, end: number): Buffer {
  return start === 0 && end === buf.length ? buf : buf.subarray(start, end);
}
