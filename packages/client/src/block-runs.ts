/**
 * Allocation at block granularity from a chunk server's STAMPS reply: a block is a hole when it
 * was never written (stamp (0, 0)) or holds only zeroes (its CRC32C is the zero block's: trimmed,
 * punched or zero-written), so it reads as zeroes either way. Pure.
 */

export interface BlockRun {
  readonly offset: number;
  readonly length: number;
  readonly hole: boolean;
}

export interface BlockStampsView {
  readonly epochs: Uint32Array;
  readonly seqs: Uint32Array;
  readonly crcs: Uint32Array;
}

/**
 * Runs of [from, to), where block i of `stamps` starts at `firstBlockOffset + i * blockBytes`
 * and the blocks cover [from, to). Offsets are in the caller's space (an extent's, or the volume's).
 */
export function blockRuns(stamps: BlockStampsView, firstBlockOffset: number, blockBytes: number, zeroBlockCrc: number, from: number, to: number): BlockRun[] {
  const runs: BlockRun[] = [];
  let start = from;
  let hole: boolean | undefined;
  for (let i = 0; i < stamps.crcs.length; i++) {
    const blockStart = Math.max(from, firstBlockOffset + i * blockBytes);
    const blockEnd = Math.min(to, firstBlockOffset + (i + 1) * blockBytes);
    if (blockEnd <= blockStart) continue;
    const isHole = (stamps.epochs[i] === 0 && stamps.seqs[i] === 0) || stamps.crcs[i] === zeroBlockCrc;
    if (hole !== undefined && isHole !== hole) {
      runs.push({ offset: start, length: blockStart - start, hole });
      start = blockStart;
    }
    hole = isHole;
  }
  if (hole !== undefined) runs.push({ offset: start, length: to - start, hole });
  return runs;
}
