import type { BasaltError } from '@basalt/stdx';
import type { BlockStamps, Stamp, StampsOutcome } from '@basalt/wire';
import type { ReplicaMeta } from '../replica/replica-meta.js';

/**
 * The extent store of one chunk server, as the server and the repair code use it. Two
 * implementations pass one conformance suite (extent-store.conformance.ts): FileExtentStore
 * (sparse extent files and a LevelDB index, file-extent-store.ts) and MemoryExtentStore (the
 * whole-cluster simulation's, with lost unsynced writes, bit flips and a full disk on demand).
 *
 * Semantics every implementation keeps:
 * - Operations on one extent are ordered by a range lock taken synchronously when the operation
 *   is called: callers get their call order. Reads and STAMPS without verify share; everything
 *   that changes blocks is exclusive on its blocks.
 * - A mutation (write, zero, copyBlocks, repairBlocks) carries stamps; every 4 KiB block it
 *   touches takes the mutation's stamp (wire/data/stamp.ts). The stamp is stored after the data:
 *   a crash in between leaves the old stamp on new data (the block looks older: it is copied
 *   again, never skipped).
 * - Data written is readable when the call resolves and survives a process crash; sync() makes
 *   every resolved write durable (survives a power loss). After a failed sync the store refuses
 *   all further I/O with that error (BASALT_IO).
 * - Reads verify every block against its stored CRC32C (BASALT_CHECKSUM, counted in
 *   checksumErrors); a block never written reads as zeros with stamp (0, 0).
 * - After a power loss (detected at open: unclean shutdown and another boot) replicas are
 *   `suspect`: their checksum slots may not describe their data. The first stamps() call on a
 *   suspect replica settles it (re-reads every block, rewrites what the data really is) and
 *   clears the flag.
 * - Ranges given to stamps, readForCopy, copyBlocks and repairBlocks are whole blocks.
 */
export interface ReadOutcome {
  readonly data: Buffer;
  /** One CRC32C per piece of the range (wire pieces.ts); whole blocks carry the stored checksum. */
  readonly crcs: Uint32Array;
}

/** Whole blocks, with their CRC32C and stamps, read at one point of the extent's order. */
export interface CopySource extends BlockStamps {
  readonly data: Buffer;
  readonly crcs: Uint32Array;
}

/** One block of a snapshot layer as a rebuild copies it: its version as of the snapshot. */
export interface SnapshotRecordCopy {
  readonly block: number;
  readonly crc: number;
  readonly epoch: number;
  readonly seq: number;
  /** The 4 KiB (all zeros when crc is the zero block's). */
  readonly data: Buffer;
}

export interface ExtentStore {
  /** Checksum mismatches found on read, before a read-modify-write, or by a verify. */
  readonly checksumErrors: number;
  /** The error that made the store refuse I/O (a failed sync), if any. */
  readonly failed: BasaltError | undefined;
  /** Group-commit rounds and the sync requests they served. */
  readonly syncStats: { rounds: number; requests: number };

  get(volumeId: number, index: number): ReplicaMeta | undefined;
  list(): ReplicaMeta[];
  /** Replaces an extent's metadata now (in memory) and resolves once it is persisted. */
  setMeta(meta: ReplicaMeta): Promise<void>;
  /** Counts one mutation of the extent; returns the new version. Call in apply order. */
  bumpVersion(volumeId: number, index: number): number;
  generation(volumeId: number): number;
  /** Raises the volume's writer generation (in memory now); undefined when not above the one held. */
  raiseGeneration(volumeId: number, generation: number): Promise<void> | undefined;

  /**
   * The primary's stamp for a mutation arriving now: (the extent's epoch, next seq of that
   * epoch). Synchronous, call on arrival. Seqs survive restarts (blocks of them are reserved
   * durably before a block carries one). BASALT_LIMIT_EXCEEDED when the epoch's seqs are used
   * up (limits.stampSeqMax) or the epoch does not fit a stamp.
   */
  nextStamp(volumeId: number, index: number): Stamp;

  /** Reads and verifies [offset, offset+length); BASALT_CHECKSUM on a corrupt block. */
  read(volumeId: number, index: number, offset: number, length: number): Promise<ReadOutcome>;
  /**
   * Writes data whose piece CRCs the caller verified, stamping every block it touches. `member`:
   * this replica is not the primary (a forwarded write), whose data is read only on failover,
   * repair or scrub; a store may then write it past the page cache.
   */
  write(volumeId: number, index: number, offset: number, data: Buffer, crcs: Uint32Array, stamp: Stamp, member?: boolean): Promise<void>;
  /** Makes [offset, offset+length) read as zeros, stamping every block it touches. */
  zero(volumeId: number, index: number, offset: number, length: number, stamp: Stamp): Promise<void>;

  /**
   * (stamp, crc) of every block of the whole blocks [offset, offset+length). With verify, re-reads
   * the data: crcs are those of the data as read, `bad` lists blocks matching no stored CRC.
   * An extent without data reports (0, 0) and the zero block's CRC.
   */
  stamps(volumeId: number, index: number, offset: number, length: number, verify: boolean): Promise<StampsOutcome>;
  /** The whole blocks [offset, offset+length) with CRCs and stamps, verified (BASALT_CHECKSUM). */
  readForCopy(volumeId: number, index: number, offset: number, length: number): Promise<CopySource>;
  /**
   * COPY on a member: applies each whole block at offset iff copyApplies(local stamp, copied stamp,
   * floorEpoch); CRCs verified by the caller. Resolves with the number of blocks applied. Written
   * as a member's write (see write).
   */
  copyBlocks(volumeId: number, index: number, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps, floorEpoch: number): Promise<number>;
  /**
   * The scrubber's local fix: rewrites whole blocks from a good copy, keeping the good copy's
   * stamps, unconditionally. BASALT_CHECKSUM (nothing written) if data does not match crcs.
   */
  repairBlocks(volumeId: number, index: number, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps): Promise<void>;

  /**
   * SNAPSHOT (docs/snapshots.md): records snapshot `id` of the extent at `stamp` (the primary's
   * next stamp, taken in the write stream) after every operation called before it, persisted
   * before it resolves. O(1): no block is copied. Repeating it for the same id does nothing.
   * From then on a write or zero preserves each block the newest snapshot holds in that
   * snapshot's layer (durable) before overwriting it; trims too. COPY and repairs do not: they
   * heal a block to what the primary holds, and a rebuild installs the primary's layers after.
   */
  takeSnapshot(volumeId: number, index: number, id: number, stamp: Stamp): Promise<void>;
  /** Drops snapshot `id` of the extent, keeping what older snapshots still need and freeing the rest. BASALT_SNAPSHOT_NOT_FOUND without it. */
  deleteSnapshot(volumeId: number, index: number, id: number): Promise<void>;
  /** Reads [offset, offset+length) as of snapshot `id`, verified (BASALT_SNAPSHOT_NOT_FOUND, BASALT_CHECKSUM). */
  readSnapshot(volumeId: number, index: number, id: number, offset: number, length: number): Promise<ReadOutcome>;
  /**
   * The blocks of the whole blocks [offset, offset+length) that differ between snapshot `from`
   * (undefined: the never-written extent) and snapshot `to` (undefined: the extent now), from
   * stamps, and from the CRCs of records preserved between the two, which a stamp lost in a crash
   * does not hide (snapshot-chain.ts changedBetween; no data is read). Block numbers in the
   * extent, ascending.
   */
  changedBlocks(volumeId: number, index: number, from: number | undefined, to: number | undefined, offset: number, length: number): Promise<number[]>;

  /**
   * Rebuild, on the primary: up to `max` records of snapshot `id`'s layer with block >= fromBlock,
   * ascending, verified (BASALT_CHECKSUM), and where to continue (undefined: done).
   */
  snapshotRecords(volumeId: number, index: number, id: number, fromBlock: number, max: number): Promise<{ records: SnapshotRecordCopy[]; next: number | undefined }>;
  /**
   * Rebuild, on a member: the primary's records of snapshot `id`'s layer replace the member's for
   * the same blocks (durably). Nothing when the member holds no such mark (deleted meanwhile).
   * Resolves with the number of records installed.
   */
  installSnapshotRecords(volumeId: number, index: number, id: number, records: readonly SnapshotRecordCopy[]): Promise<number>;

  /**
   * The scrubber's check of snapshot `id`'s layer: re-reads every record and returns those whose
   * data no longer matches their (header-checked) CRC, with the bytes read. Nothing without the mark.
   */
  verifySnapshotLayer(volumeId: number, index: number, id: number): Promise<{ bad: Omit<SnapshotRecordCopy, 'data'>[]; bytes: number }>;

  /**
   * Makes every write that resolved before this call durable (one group-commit round): the
   * extent's writes only when one is named (a FUA write, a FLUSH: other extents' buffered
   * writes, such as a rebuild's copy, are not written back with them), else every extent's.
   */
  sync(extent?: { readonly volumeId: number; readonly index: number }): Promise<void>;
  /** Deletes every replica of a volume (after the operations called before it). */
  removeVolume(volumeId: number): Promise<{ replicas: number; bytes: number }>;
  /** Syncs, records a clean shutdown, closes. */
  close(): Promise<void>;
}
