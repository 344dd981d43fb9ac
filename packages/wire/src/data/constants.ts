/**
 * Constants of the data-plane protocol (docs/data-path.md). Numbers here are part of the wire
 * format: never renumber, only add.
 */
export const requestMagic = 0xba5a1d01;
export const responseMagic = 0xba5a1d02;

/** Bytes before a frame's body: magic (u32) and body length (u32). */
export const framePrefixBytes = 8;
/** Fixed part of a request frame, prefix included. */
export const requestHeaderBytes = 60;
/** Where a request's header checksum sits: CRC32C of the whole header (fixed part, replica list,
 * piece CRCs; not the payload, which the piece CRCs cover) with these 4 bytes left out. */
export const requestHeaderCrcOffset = 56;
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
};

export function isDataOp(op: number): op is DataOp {
  return op >= DataOp.Read && op <= DataOp.Ping;
}

export const DataFlag = {
  /** Force unit access: the write is on stable storage on every replica before the reply. */
  Fua: 1,
  /** Sent by a primary to a secondary: apply, do not forward again. */
  Forwarded: 2,
} as const;
export const dataFlagsMask = DataFlag.Fua | DataFlag.Forwarded;

/** State of an extent replica on a chunk server, as reported in every response. */
export const ExtentState = {
  /** The server holds no replica of this extent. */
  Absent: 0,
  /** A member of the current replica set, serving I/O. */
  Active: 1,
  /** Fenced: a newer epoch without this server was seen; refuses all I/O. */
  Fenced: 2,
} as const;
export type ExtentState = (typeof ExtentState)[keyof typeof ExtentState];

/** Extent sizes a frame can name, as log2 (1 MiB .. 1 GiB, see limits). */
export const extentSizeLog2Min = 20;
export const extentSizeLog2Max = 30;
/** Longest server id or address in a replica list. */
export const replicaFieldBytesMax = 255;
