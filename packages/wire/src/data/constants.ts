/**
 * Constants of the data-plane protocol (docs/data-path.md). Numbers here are part of the wire
 * format: never renumber, only add.
 */
export const requestMagic = 0xba5a1d01;
export const responseMagic = 0xba5a1d02;

/** Bytes before a frame's body: magic (u32) and body length (u32). */
export const framePrefixBytes = 8;
/** Fixed part of a request frame, prefix included. */
export const requestHeaderBytes = 68;
/** Where a request's header checksum sits: CRC32C of the whole header (fixed part, replica list,
 * piece CRCs; not the payload, which the piece CRCs cover) with these 4 bytes left out. */
export const requestHeaderCrcOffset = 64;
/** Where a request's stamp sits (epoch u32, seq u32): a forwarded mutation's stamp; COPY: (floor epoch, 0). */
export const requestStampOffset = 56;
/** Fixed part of a response frame, prefix included. */
export const responseHeaderBytes = 36;

export const DataOp = {
  Read: 1,
  Write: 2,
  Flush: 3,
  Trim: 4,
  WriteZeroes: 5,
  /** Returns the extent's epoch, version and state; no data. */
  Info: 6,
  /**
   * Liveness probe: answered at once, before admission or any store work. Carries a placeholder
   * extent (volume 0) that the server ignores. DataConnection sends it when a server with
   * requests in flight has been silent (docs/data-path.md, "Unresponsive servers").
   */
  Ping: 7,
  /**
   * Per-block (stamp, CRC32C) of a block-aligned range, under the extent's range lock; with the
   * VERIFY flag the server re-reads the data and lists blocks that match no stored checksum.
   */
  Stamps: 8,
  /**
   * Primary -> member (FORWARDED only): whole blocks with their CRCs and stamps, and the floor
   * epoch; the member applies each block iff its own stamp's epoch is below the floor or the
   * copied stamp is newer (wire/data/stamp.ts, copyApplies). Replies with the count applied.
   */
  Copy: 9,
  /**
   * Presents a signed token (capability.ts) for the rest of the connection: the payload is the
   * token, `length` its bytes; the extent fields are a placeholder (volume 0), as for PING. The
   * server verifies it once and checks later requests against it (docs/data-path.md, "Capabilities").
   */
  Auth: 10,
  /**
   * Takes snapshot `snapshot` of the extent (docs/snapshots.md): the primary stamps it like a
   * mutation and forwards it; every member records the mark. Carries the id in the offset field,
   * length 0. A writer's op (lease fenced).
   */
  Snapshot: 11,
  /** Drops snapshot `snapshot` (id in the offset field, length 0); primary, forwarded to members. */
  SnapshotDelete: 12,
  /** READ as of snapshot `snapshot` (id in the stamp seq slot); any active member. */
  SnapshotRead: 13,
  /**
   * Blocks of a whole-block range that differ between snapshot `snapshotFrom` (stamp epoch slot;
   * 0: never written) and snapshot `snapshot` (stamp seq slot; 0: now). Reply payload: u32 count,
   * then that many u32 block numbers (in the extent), ascending.
   */
  SnapshotDiff: 14,
  /**
   * Primary -> member (FORWARDED only), during a rebuild: records of snapshot `snapshot`'s
   * copy-on-write layer (id in the offset field; `length` = payload bytes, the records as
   * encodeSnapshotRecords lays them out) replace the member's for the same blocks. Nothing when
   * the member holds no such mark. Reply payload: u32 records installed.
   */
  SnapshotInstall: 15,
} as const;
export type DataOp = (typeof DataOp)[keyof typeof DataOp];

export const dataOpNames: Readonly<Record<DataOp, string>> = {
  [DataOp.Read]: 'read',
  [DataOp.Write]: 'write',
  [DataOp.Flush]: 'flush',
  [DataOp.Trim]: 'trim',
  [DataOp.WriteZeroes]: 'write_zeroes',
  [DataOp.Info]: 'info',
  [DataOp.Ping]: 'ping',
  [DataOp.Stamps]: 'stamps',
  [DataOp.Copy]: 'copy',
  [DataOp.Auth]: 'auth',
  [DataOp.Snapshot]: 'snapshot',
  [DataOp.SnapshotDelete]: 'snapshot_delete',
  [DataOp.SnapshotRead]: 'snapshot_read',
  [DataOp.SnapshotDiff]: 'snapshot_diff',
  [DataOp.SnapshotInstall]: 'snapshot_install',
};

export function isDataOp(op: number): op is DataOp {
  return op >= DataOp.Read && op <= DataOp.SnapshotInstall;
}

export const DataFlag = {
  /** Force unit access: the write is on stable storage on every replica before the reply. */
  Fua: 1,
  /** Sent by a primary to a secondary: apply, do not forward again. */
  Forwarded: 2,
  /** STAMPS only: re-read the data and check every block's CRC. */
  Verify: 4,
  /**
   * FLUSH only, from a client: sync this replica's file only, do not forward. The SDK sends one to
   * every member of the set (docs/data-path.md, "Flush"); any member at the request's epoch takes
   * it. Never with FORWARDED (admission refuses either misuse as a protocol error).
   */
  Local: 8,
} as const;
export const dataFlagsMask = DataFlag.Fua | DataFlag.Forwarded | DataFlag.Verify | DataFlag.Local;

/** Flags of a replica-list entry. */
export const ReplicaFlag = {
  /** A rebuilding member: receives forwarded writes and COPY, serves no reads, counts for no acknowledgement. */
  Rebuilding: 1,
} as const;

/** State of an extent replica on a chunk server, as reported in every response. */
export const ExtentState = {
  /** The server holds no replica of this extent. */
  Absent: 0,
  /** A member of the current replica set, serving I/O. */
  Active: 1,
  /** Fenced: a newer epoch without this server was seen; refuses all I/O. */
  Fenced: 2,
  /** A rebuilding member of the current set: takes forwarded writes and COPY, refuses client reads. */
  Rebuilding: 3,
} as const;
export type ExtentState = (typeof ExtentState)[keyof typeof ExtentState];

/** Extent sizes a frame can name, as log2 (1 MiB .. 1 GiB, see limits). */
export const extentSizeLog2Min = 20;
export const extentSizeLog2Max = 30;
/** Longest server id or address in a replica list. */
export const replicaFieldBytesMax = 255;
