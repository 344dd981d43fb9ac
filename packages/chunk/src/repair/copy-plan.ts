import { assert } from '@basalt/stdx';
import type { BlockStamps } from '@basalt/wire';

/**
 * Which blocks a rebuild copies (pure). The source (the primary) and the target (the rebuilding
 * member) each list, per 4 KiB block of the extent, the block's stamp (epoch, seq) and stored CRC
 * (the STAMPS op). A block is copied when the two differ in any of the three: equal stamps mean
 * the same write reached both (a forwarded write carries the primary's stamp); a difference in
 * CRC alone means a damaged copy. Copying too much is always safe (the target keeps whatever is
 * newer, see the COPY rule in docs/data-path.md); copying too little never happens, because a
 * block the target did not get from the same write has another stamp.
 *
 * A returning server's copy differs only in the blocks written while it was away (catch-up); a
 * new server's copy is all (0, 0) stamps and differs wherever the source was ever written
 * (rebuild). Never-written blocks (stamp (0, 0), the zero block's CRC) on both sides are not copied.
 */
export interface StampList extends BlockStamps {
  /** Per block: the stored CRC32C. */
  readonly crcs: Uint32Array;
}

/** Blocks [firstBlock, firstBlock + blocks) of the extent. */
export interface CopyRun {
  readonly firstBlock: number;
  readonly blocks: number;
}

export interface CopyPlan {
  readonly runs: readonly CopyRun[];
  /** Blocks compared: the whole extent. */
  readonly blocksCompared: number;
  /** Blocks in the runs. */
  readonly blocksToCopy: number;
}

export function blockCount(s: StampList): number {
  assert(s.epochs.length === s.seqs.length && s.seqs.length === s.crcs.length, 'stamp lists of one extent have one entry per block');
  return s.epochs.length;
}

export function sameBlock(a: StampList, b: StampList, i: number): boolean {
  return a.epochs[i] === b.epochs[i] && a.seqs[i] === b.seqs[i] && a.crcs[i] === b.crcs[i];
}

/** Runs of differing blocks, in block order, each at most runBlocksMax long. */
export function planCopy(source: StampList, target: StampList, runBlocksMax: number): CopyPlan {
  const n = blockCount(source);
  assert(blockCount(target) === n, `source and target list the same blocks (${n} vs ${blockCount(target)})`);
  assert(Number.isSafeInteger(runBlocksMax) && runBlocksMax > 0, `a run holds at least one block, got ${runBlocksMax}`);
  const runs: CopyRun[] = [];
  let toCopy = 0;
  let start = -1;
  const close = (end: number): void => {
    runs.push({ firstBlock: start, blocks: end - start });
    toCopy += end - start;
    start = -1;
  };
  for (let i = 0; i < n; i++) {
    if (sameBlock(source, target, i)) {
      if (start >= 0) close(i);
      continue;
    }
    if (start < 0) start = i;
    else if (i - start === runBlocksMax) {
      close(i);
      start = i;
    }
  }
  if (start >= 0) close(n);
  return { runs, blocksCompared: n, blocksToCopy: toCopy };
}
