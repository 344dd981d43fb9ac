/**
 * NBD protocol constants (NetworkBlockDevice/nbd doc/proto.md). Values are fixed by the
 * protocol; names follow the spec without the NBD_ prefix.
 */

/** 'NBDMAGIC': first 8 bytes the server sends. */
export const NBDMAGIC = 0x4e42444d41474943n;
/** 'IHAVEOPT': second server magic, and the magic of every client option. */
export const IHAVEOPT = 0x49484156454f5054n;
/** Magic of every fixed-newstyle option reply. */
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server, 16 bits). */
export const HandshakeFlag = { FixedNewstyle: 1 << 0, NoZeroes: 1 << 1 } as const;
/** Client flags (32 bits). Any other bit makes the server drop the connection. */
export const ClientFlag = { FixedNewstyle: 1 << 0, NoZeroes: 1 << 1 } as const;

/** Transmission flags (16 bits). */
export const TransmissionFlag = {
  HasFlags: 1 << 0,
  ReadOnly: 1 << 1,
  SendFlush: 1 << 2,
  SendFua: 1 << 3,
  Rotational: 1 << 4,
  SendTrim: 1 << 5,
  SendWriteZeroes: 1 << 6,
  SendDf: 1 << 7,
  CanMultiConn: 1 << 8,
  SendResize: 1 << 9,
  SendCache: 1 << 10,
  SendFastZero: 1 << 11,
} as const;

export const Opt = {
  ExportName: 1,
  Abort: 2,
  List: 3,
  PeekExport: 4,
  StartTls: 5,
  Info: 6,
  Go: 7,
  StructuredReply: 8,
  ListMetaContext: 9,
  SetMetaContext: 10,
} as const;

const ERR = 0x80000000;
export const Rep = {
  Ack: 1,
  Server: 2,
  Info: 3,
  MetaContext: 4,
  ErrUnsup: ERR + 1,
  ErrPolicy: ERR + 2,
  ErrInvalid: ERR + 3,
  ErrPlatform: ERR + 4,
  ErrTlsReqd: ERR + 5,
  ErrUnknown: ERR + 6,
  ErrShutdown: ERR + 7,
  ErrBlockSizeReqd: ERR + 8,
  ErrTooBig: ERR + 9,
} as const;

export const InfoType = { Export: 0, Name: 1, Description: 2, BlockSize: 3 } as const;

export const Cmd = {
  Read: 0,
  Write: 1,
  Disc: 2,
  Flush: 3,
  Trim: 4,
  Cache: 5,
  WriteZeroes: 6,
  BlockStatus: 7,
} as const;
export type Cmd = (typeof Cmd)[keyof typeof Cmd];

export const CmdFlag = { Fua: 1 << 0, NoHole: 1 << 1, Df: 1 << 2, ReqOne: 1 << 3, FastZero: 1 << 4 } as const;

export const ReplyFlag = { Done: 1 << 0 } as const;

export const ReplyType = {
  None: 0,
  OffsetData: 1,
  OffsetHole: 2,
  BlockStatus: 5,
  Error: (1 << 15) + 1,
  ErrorOffset: (1 << 15) + 2,
} as const;

/** Error values of the transmission phase (not the host's errno: fixed by the protocol). */
export const Errno = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;
export type Errno = (typeof Errno)[keyof typeof Errno];

/** base:allocation status flags. */
export const StateFlag = { Hole: 1 << 0, Zero: 1 << 1 } as const;

export const BASE_ALLOCATION = 'base:allocation';

/** Sizes of fixed headers in bytes. */
export const OPTION_HEADER_BYTES = 16;
export const REQUEST_HEADER_BYTES = 28;
export const SIMPLE_REPLY_HEADER_BYTES = 16;
export const STRUCTURED_REPLY_HEADER_BYTES = 20;
/** Strings (export names, queries, messages) are at most this long (spec: MUST). */
export const STRING_BYTES_MAX = 4096;
