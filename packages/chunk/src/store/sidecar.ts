import { crc32c } from '@node-rs/crc32';
import { limits } from '@basalt/stdx';

/**
 * The checksum sidecar of an extent: 8 bytes per 4 KiB block, two big-endian u32 slots,
 * [current, previous]. Each slot holds crc32c(block) XOR crc32c(zero block), so an all-zero
 * entry (a hole in the sidecar) describes an all-zero block (a hole in the data).
 *
 * A mutation stores [new, old current] in the sidecar first and the data second. A block is
 * valid when its checksum matches either slot, so a block is never reported corrupt because a
 * process died (or the disk filled) between the two writes: it holds the old or the new data,
 * and both are described. A flipped bit matches neither.
 */
export const blockBytes = limits.checksumBlockBytes;
export const entryBytes = 8;
export const zeroBlockCrc = crc32c(Buffer.alloc(blockBytes));

export function sidecarBytes(extentSizeBytes: number): number {
  return (extentSizeBytes / blockBytes) * entryBytes;
}

/** CRC32C of each whole block of data. */
export function blockCrcs(data: Buffer): Uint32Array {
  const crcs = new Uint32Array(data.length / blockBytes);
  for (let b = 0; b < crcs.length; b++) crcs[b] = crc32c(data.subarray(b * blockBytes, (b + 1) * blockBytes));
  return crcs;
}

/** Index of the first block whose checksum matches neither slot of its entry, or -1. */
export function firstMismatch(crcs: Uint32Array, entries: Buffer): number {
  for (let b = 0; b < crcs.length; b++) {
    const stored = (crcs[b]! ^ zeroBlockCrc) >>> 0;
    if (stored !== entries.readUInt32BE(b * entryBytes) && stored !== entries.readUInt32BE(b * entryBytes + 4)) return b;
  }
  return -1;
}

/** Entries describing new block checksums: [new, old current] per block. */
export function shiftedEntries(old: Buffer, newCrcs: ArrayLike<number>): Buffer {
  const out = Buffer.allocUnsafe(newCrcs.length * entryBytes);
  for (let b = 0; b < newCrcs.length; b++) {
    out.writeUInt32BE((newCrcs[b]! ^ zeroBlockCrc) >>> 0, b * entryBytes);
    out.writeUInt32BE(old.readUInt32BE(b * entryBytes), b * entryBytes + 4);
  }
  return out;
}

/** Entries that describe exactly the given checksums in both slots. */
export function settledEntries(crcs: ArrayLike<number>): Buffer {
  const out = Buffer.allocUnsafe(crcs.length * entryBytes);
  for (let b = 0; b < crcs.length; b++) {
    const stored = (crcs[b]! ^ zeroBlockCrc) >>> 0;
    out.writeUInt32BE(stored, b * entryBytes);
    out.writeUInt32BE(stored, b * entryBytes + 4);
  }
  return out;
}
