import type { BlockStamps, Stamp } from '@basalt/wire';
import { blockBytes } from './sidecar.js';

/**
 * The stamp table of an extent replica: 8 bytes per 4 KiB block, big-endian (epoch u32, seq u32),
 * after the checksum sidecar in the extent file (extent-files.ts). All zeros is (0, 0) for every
 * block: a table that was never written describes blocks never written.
 */
export const stampEntryBytes = 8;

export function stampTableBytes(extentSizeBytes: number): number {
  return (extentSizeBytes / blockBytes) * stampEntryBytes;
}

/** Entries giving `blocks` blocks one stamp. */
export function uniformStampEntries(blocks: number, stamp: Stamp): Buffer {
  const out = Buffer.allocUnsafe(blocks * stampEntryBytes);
  for (let b = 0; b < blocks; b++) {
    out.writeUInt32BE(stamp.epoch, b * stampEntryBytes);
    out.writeUInt32BE(stamp.seq, b * stampEntryBytes + 4);
  }
  return out;
}

/** Entries of blocks [from, from+count) of a BlockStamps. */
export function stampEntries(stamps: BlockStamps, from: number, count: number): Buffer {
  const out = Buffer.allocUnsafe(count * stampEntryBytes);
  for (let b = 0; b < count; b++) {
    out.writeUInt32BE(stamps.epochs[from + b]!, b * stampEntryBytes);
    out.writeUInt32BE(stamps.seqs[from + b]!, b * stampEntryBytes + 4);
  }
  return out;
}

/** Reads `count` entries from table starting at block `first` into BlockStamps arrays. */
export function readStampEntries(table: Buffer, first: number, count: number, into: { epochs: Uint32Array; seqs: Uint32Array }): void {
  for (let b = 0; b < count; b++) {
    into.epochs[b] = table.readUInt32BE((first + b) * stampEntryBytes);
    into.seqs[b] = table.readUInt32BE((first + b) * stampEntryBytes + 4);
  }
}
