import { assert } from '@basalt/stdx';
import {
  REQUEST_HEADER_BYTES, REQUEST_MAGIC, ReplyFlag, ReplyType, SIMPLE_REPLY_MAGIC, STRUCTURED_REPLY_MAGIC, StateFlag,
} from './constants.js';
import type { Errno } from './constants.js';
import { truncateUtf8 } from './option-codec.js';

/** Encoders and decoders of the transmission phase: requests, simple replies, structured chunks. */

export type Request = {
  flags: number;
  type: number;
  /** The client's 8 opaque bytes, echoed in every reply (copied: the header buffer may be reused). */
  handle: Buffer;
  /**
   * Byte offset. Exact below 2^53; above that it is rounded, which keeps it larger than any
   * volume size (volumes are at most limits.volumeSizeBytesMax = 2^50), so range checks still fail.
   */
  offset: number;
  length: number;
};

/** Decodes a 28-byte request header; undefined when the magic is wrong (the stream is lost). */
export function decodeRequest(b: Buffer): Request | undefined {
  if (b.length !== REQUEST_HEADER_BYTES) assert(false, `request header is ${REQUEST_HEADER_BYTES} bytes, got ${b.length}`); // message built only on failure
  if (b.readUInt32BE(0) !== REQUEST_MAGIC) return undefined;
  return {
    flags: b.readUInt16BE(4),
    type: b.readUInt16BE(6),
    handle: Buffer.from(b.subarray(8, 16)),
    offset: b.readUInt32BE(16) * 2 ** 32 + b.readUInt32BE(20),
    length: b.readUInt32BE(24),
  };
}

/** Encodes a request (used by tests and the fuzzer to play the client). */
export function encodeRequest(r: { flags: number; type: number; handle: Buffer; offset: bigint; length: number }): Buffer {
  const b = Buffer.alloc(REQUEST_HEADER_BYTES);
  b.writeUInt32BE(REQUEST_MAGIC, 0);
  b.writeUInt16BE(r.flags, 4);
  b.writeUInt16BE(r.type, 6);
  r.handle.copy(b, 8, 0, 8);
  b.writeBigUInt64BE(r.offset, 16);
  b.writeUInt32BE(r.length, 24);
  return b;
}

/** A simple reply header; for a successful READ the data follows it. */
export function encodeSimpleReply(handle: Buffer, error: Errno | 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error, 4);
  handle.copy(b, 8, 0, 8);
  return b;
}

function chunkHeader(b: Buffer, flags: number, type: number, handle: Buffer, length: number): void {
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  handle.copy(b, 8, 0, 8);
  b.writeUInt32BE(length, 16);
}

/** A u64 offset (a safe integer, as every offset the agent replies with is) without a BigInt. */
function writeOffset(b: Buffer, offset: number, at: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) assert(false, `offset ${offset} is not a safe unsigned integer`); // message built only on failure
  b.writeUInt32BE(Math.floor(offset / 2 ** 32), at);
  b.writeUInt32BE(offset >>> 0, at + 4);
}

/** NBD_REPLY_TYPE_NONE with DONE: a successful reply without payload. */
export function encodeDoneChunk(handle: Buffer): Buffer {
  const b = Buffer.alloc(20);
  chunkHeader(b, ReplyFlag.Done, ReplyType.None, handle, 0);
  return b;
}

/** Header of NBD_REPLY_TYPE_OFFSET_DATA (chunk header + offset); `dataLength` bytes follow it. */
export function encodeDataChunkHeader(handle: Buffer, offset: number, dataLength: number, done: boolean): Buffer {
  assert(dataLength > 0, 'a data chunk describes at least one byte');
  const b = Buffer.alloc(28);
  chunkHeader(b, done ? ReplyFlag.Done : 0, ReplyType.OffsetData, handle, 8 + dataLength);
  writeOffset(b, offset, 20);
  return b;
}

/** NBD_REPLY_TYPE_OFFSET_HOLE: `length` bytes at `offset` read as zeroes. */
export function encodeHoleChunk(handle: Buffer, offset: number, length: number, done: boolean): Buffer {
  assert(length > 0, 'a hole chunk describes at least one byte');
  const b = Buffer.alloc(32);
  chunkHeader(b, done ? ReplyFlag.Done : 0, ReplyType.OffsetHole, handle, 12);
  writeOffset(b, offset, 20);
  b.writeUInt32BE(length, 28);
  return b;
}

/** NBD_REPLY_TYPE_ERROR with DONE and a message for humans. */
export function encodeErrorChunk(handle: Buffer, error: Errno, message: string): Buffer {
  const m = Buffer.from(truncateUtf8(message, 4096));
  const b = Buffer.alloc(26 + m.length);
  chunkHeader(b, ReplyFlag.Done, ReplyType.Error, handle, 6 + m.length);
  b.writeUInt32BE(error, 20);
  b.writeUInt16BE(m.length, 24);
  m.copy(b, 26);
  return b;
}

/** A run of the volume that is either data or a hole (a hole reads as zeroes). */
export type Extent = { lengthBytes: number; hole: boolean };

/**
 * NBD_REPLY_TYPE_BLOCK_STATUS with DONE for base:allocation. `extents` start at the request's
 * offset; descriptors are merged, cut to `requestLength` and to `maxDescriptors` (one with REQ_ONE).
 */
export function encodeBlockStatus(handle: Buffer, contextId: number, extents: readonly Extent[], requestLength: number, maxDescriptors: number): Buffer {
  const descriptors = describeExtents(extents, requestLength, maxDescriptors);
  assert(descriptors.length > 0, 'block status needs at least one descriptor');
  const b = Buffer.alloc(24 + 8 * descriptors.length);
  chunkHeader(b, ReplyFlag.Done, ReplyType.BlockStatus, handle, 4 + 8 * descriptors.length);
  b.writeUInt32BE(contextId, 20);
  descriptors.forEach((d, i) => {
    b.writeUInt32BE(d.length, 24 + 8 * i);
    b.writeUInt32BE(d.flags, 28 + 8 * i);
  });
  return b;
}

function describeExtents(extents: readonly Extent[], requestLength: number, maxDescriptors: number): { length: number; flags: number }[] {
  const out: { length: number; flags: number }[] = [];
  let covered = 0;
  for (const e of extents) {
    if (covered >= requestLength) break;
    const length = Math.min(e.lengthBytes, requestLength - covered);
    if (length <= 0) continue;
    const flags = e.hole ? StateFlag.Hole | StateFlag.Zero : 0;
    const last = out[out.length - 1];
    if (last !== undefined && last.flags === flags) last.length += length;
    else if (out.length < maxDescriptors) out.push({ length, flags });
    else break;
    covered += length;
  }
  return out;
}

/** One piece of a structured READ reply. */
export type ReadPiece = { offset: number; length: number; hole: boolean };

/**
 * Splits a read into data and hole pieces from the device's extents (which start at `offset`).
 * Parts the extents do not cover are data. The pieces exactly cover [offset, offset + length).
 */
export function planRead(offset: number, length: number, extents: readonly Extent[]): ReadPiece[] {
  const pieces: ReadPiece[] = [];
  let at = offset;
  const end = offset + length;
  for (const e of extents) {
    if (at >= end) break;
    const n = Math.min(e.lengthBytes, end - at);
    if (n <= 0) continue;
    const last = pieces[pieces.length - 1];
    if (last !== undefined && last.hole === e.hole) last.length += n;
    else pieces.push({ offset: at, length: n, hole: e.hole });
    at += n;
  }
  if (at < end) {
    const last = pieces[pieces.length - 1];
    if (last !== undefined && !last.hole) last.length += end - at;
    else pieces.push({ offset: at, length: end - at, hole: false });
  }
  return pieces;
}
