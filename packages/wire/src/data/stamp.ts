/**
 * Per-block stamps (docs/data-path.md, "Layout on disk"): every 4 KiB block of an extent replica
 * carries the stamp of the mutation that last wrote it, (epoch u32, seq u32), assigned by the
 * primary when the mutation arrived. Stamps of one extent are unique and grow with time: seq
 * counts the primary's mutations within an epoch, and every change of the replica set bumps the
 * epoch. (0, 0) is a block never written; (0, 1) a block that holds data of unknown age (a
 * replica converted from the layout without stamps, or a block whose stamp a power loss made
 * untrustworthy). Both are older than every stamp a primary assigns (epochs start at 1).
 */
export interface Stamp {
  readonly epoch: number;
  readonly seq: number;
}

/** Stamps of consecutive blocks: block i has (epochs[i], seqs[i]). */
export interface BlockStamps {
  readonly epochs: Uint32Array;
  readonly seqs: Uint32Array;
}

/** What STAMPS reports for a block-aligned range of an extent replica. */
export interface StampsOutcome extends BlockStamps {
  /**
   * CRC32C per block: what the checksum sidecar says the block holds or, after a verify, the CRC
   * of the data as re-read (of a block in `bad`: the sidecar's).
   */
  readonly crcs: Uint32Array;
  /** Block numbers (in the extent) whose data matched no stored checksum; empty without verify. */
  readonly bad: readonly number[];
}

export const neverWritten: Stamp = { epoch: 0, seq: 0 };
export const unknownAge: Stamp = { epoch: 0, seq: 1 };
/** Largest value of either half of a stamp. */
export const stampFieldMax = 0xffffffff;

/** <0, 0, >0 as stamp a is older than, equal to, newer than b. */
export function compareStamps(aEpoch: number, aSeq: number, bEpoch: number, bSeq: number): number {
  return aEpoch !== bEpoch ? aEpoch - bEpoch : aSeq - bSeq;
}

/**
 * The COPY rule (HEALING.md #2): a copied block replaces the local one iff the local stamp is from
 * before the member joined as rebuilding (epoch below the floor) or the copied stamp is newer.
 * A copy therefore never overwrites a foreground write the member received after joining.
 */
export function copyApplies(localEpoch: number, localSeq: number, copiedEpoch: number, copiedSeq: number, floorEpoch: number): boolean {
  return localEpoch < floorEpoch || compareStamps(copiedEpoch, copiedSeq, localEpoch, localSeq) > 0;
}

export function blockStamps(count: number): { epochs: Uint32Array; seqs: Uint32Array } {
  return { epochs: new Uint32Array(count), seqs: new Uint32Array(count) };
}
