import { crc32c } from '@node-rs/crc32';
import { assert, ErrorCode, limits, type ErrorCode as Code } from '@basalt/stdx';
import {
  DataFlag, DataOp, dataFlagsMask, dataOpNames, extentSizeLog2Max, extentSizeLog2Min, framePrefixBytes, isDataOp,
  replicaFieldBytesMax, ReplicaFlag, requestHeaderBytes, requestHeaderCrcOffset, requestMagic, requestStampOffset,
  responseHeaderBytes, responseMagic, type ExtentState,
} from './constants.js';
import { pieceCount } from './pieces.js';
import type { BlockStamps, Stamp, StampsOutcome } from './stamp.js';
import { readU64, writeU64 } from './u64.js';

/**
 * Pure encoder and decoder of data-plane frames (layout in docs/data-path.md). Decoders take one
 * complete frame (see FrameSplitter) and never throw on bad input: they return what was wrong.
 */
export interface ReplicaRef {
  readonly serverId: string;
  readonly address: string;
  /** A rebuilding member (absent: active). Rebuilding members come after the active ones. */
  readonly rebuilding?: boolean;
}

/** Names one extent replica set at one epoch; replicas[0] is the primary. */
export interface ExtentRef {
  readonly volumeId: number;
  readonly index: number;
  readonly extentSizeBytes: number;
  readonly epoch: number;
  /** The writer's volume generation (lease fencing token); 0 for readers. */
  readonly generation: number;
  readonly replicas: readonly ReplicaRef[];
  /**
   * Signed tokens that authorize requests on this extent (a client capability, the extent's
   * signed state; capability.ts). Not part of the request frame: DataConnection sends each one
   * once per connection as an AUTH frame ahead of the first request that carries it.
   */
  readonly auth?: readonly Buffer[];
}

/** What a PING names: the frame format needs an extent; the server ignores it. */
export const pingExtent: ExtentRef = { volumeId: 0, index: 0, extentSizeBytes: 2 ** 20, epoch: 0, generation: 0, replicas: [{ serverId: 'ping', address: 'ping' }] };

export interface DataRequest {
  readonly op: DataOp;
  readonly flags: number;
  readonly requestId: number;
  readonly extent: ExtentRef;
  /** Byte offset inside the extent. */
  readonly offset: number;
  readonly length: number;
  /** Write only: one CRC32C per piece (pieces.ts). */
  readonly crcs?: Uint32Array;
  /** Write and COPY: `length` bytes. */
  readonly payload?: Buffer;
  /** Mutations: the stamp the primary assigned (sent on forwarded ones; (0, 0) from clients). */
  readonly stamp?: Stamp;
  /** COPY only: one stamp per block. */
  readonly stamps?: BlockStamps;
  /** COPY only: the epoch at which the receiving member joined as rebuilding (copyApplies). */
  readonly floorEpoch?: number;
  /** SNAPSHOT, SNAPSHOT_DELETE, SNAPSHOT_READ: the snapshot id (1..2^32-1); SNAPSHOT_DIFF: the newer one (0: now). */
  readonly snapshot?: number;
  /** SNAPSHOT_DIFF only: the older snapshot (0: the never-written extent). */
  readonly snapshotFrom?: number;
}

/** Ops that name a snapshot in the offset field and take no range. */
function snapshotControl(op: number): boolean {
  return op === DataOp.Snapshot || op === DataOp.SnapshotDelete || op === DataOp.SnapshotInstall;
}

export interface ResponseHead {
  readonly requestId: number;
  /** The server's epoch for the extent (0 when it holds none). */
  readonly epoch: number;
  readonly version: number;
  readonly state: ExtentState;
}

export type DataResponse =
  | (ResponseHead & { readonly ok: true; readonly crcs: Uint32Array; readonly payload: Buffer })
  | (ResponseHead & {
      readonly ok: false;
      readonly code: Code;
      readonly message: string;
      /** BASALT_STALE_EPOCH from a server at a newer epoch: metad's signed state of that epoch, when the server holds it (the SDK re-sends with it). */
      readonly signedState?: Buffer;
    });

export type Decoded<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'error'; readonly requestId: number; readonly code: Code; readonly message: string };

function fail<T>(requestId: number, code: Code, message: string): Decoded<T> {
  return { kind: 'error', requestId, code, message };
}

function log2(n: number): number {
  return Math.round(Math.log2(n));
}

function replicasBytes(replicas: readonly ReplicaRef[]): number {
  let n = 0;
  for (const r of replicas) n += 3 + Buffer.byteLength(r.serverId) + Buffer.byteLength(r.address);
  return n;
}

/** Bytes of a request's header that follow the replica list: piece CRCs (WRITE), block CRCs and stamps (COPY). */
function listBytes(op: number, offset: number, length: number): number {
  if (op === DataOp.Write) return 4 * pieceCount(offset, length);
  if (op === DataOp.Copy) return 12 * (length / limits.checksumBlockBytes);
  return 0;
}

function carriesData(op: number): boolean {
  return op === DataOp.Write || op === DataOp.Copy || op === DataOp.Auth;
}

/** The AUTH request that presents a token (DataOp.Auth). */
export function authRequest(token: Buffer): DataRequest {
  return { op: DataOp.Auth, flags: 0, requestId: 0, extent: pingExtent, offset: 0, length: token.length, crcs: noCrcs, payload: token };
}

const noCrcs = new Uint32Array(0);

/** A payload the frame carries: WRITE and COPY data, SNAPSHOT_INSTALL records. */
function payloadOf(req: DataRequest): Buffer | undefined {
  return carriesData(req.op) || req.op === DataOp.SnapshotInstall ? req.payload : undefined;
}

/**
 * Encodes a request as [header] or [header, payload] for one writev. `requestId` (default: the
 * request's own) lets a sender number a request without copying it.
 */
export function encodeRequest(req: DataRequest, requestId: number = req.requestId): Buffer[] {
  const ext = req.extent;
  assert(ext.replicas.length >= 1 && ext.replicas.length <= limits.replicationFactorMax, 'replica count');
  assert(2 ** log2(ext.extentSizeBytes) === ext.extentSizeBytes, 'extent size is a power of two');
  const op = req.op;
  const crcCount = op === DataOp.Write ? pieceCount(req.offset, req.length) : op === DataOp.Copy ? req.length / limits.checksumBlockBytes : 0;
  assert(!carriesData(op) || (req.crcs?.length === crcCount && req.payload?.length === req.length), 'write and copy need crcs and payload');
  assert(op !== DataOp.Copy || (req.stamps?.epochs.length === crcCount && req.stamps.seqs.length === crcCount && req.floorEpoch !== undefined), 'copy needs stamps and a floor epoch');
  const headBytes = requestHeaderBytes + replicasBytes(ext.replicas) + listBytes(op, req.offset, req.length);
  const payloadBytes = payloadOf(req)?.length ?? 0;
  const head = Buffer.allocUnsafe(headBytes);
  head.writeUInt32BE(requestMagic, 0);
  head.writeUInt32BE(headBytes + payloadBytes - framePrefixBytes, 4);
  head.writeUInt8(op, 8);
  head.writeUInt8(req.flags, 9);
  head.writeUInt8(log2(ext.extentSizeBytes), 10);
  head.writeUInt8(ext.replicas.length, 11);
  head.writeUInt32BE(requestId, 12);
  writeU64(head, 16, ext.volumeId);
  head.writeUInt32BE(ext.index, 24);
  head.writeUInt32BE(req.length, 28);
  const install = op === DataOp.SnapshotInstall;
  assert(!snapshotControl(op) || (req.offset === 0 && req.length === (install ? req.payload!.length : 0) && (req.snapshot ?? 0) > 0), 'a snapshot op names its snapshot and no range');
  writeU64(head, 32, snapshotControl(op) ? req.snapshot! : req.offset);
  writeU64(head, 40, ext.epoch);
  writeU64(head, 48, ext.generation);
  const [slotEpoch, slotSeq] = stampSlot(req);
  head.writeUInt32BE(slotEpoch, requestStampOffset);
  head.writeUInt32BE(slotSeq, requestStampOffset + 4);
  let pos = requestHeaderBytes;
  for (const r of ext.replicas) {
    pos = head.writeUInt8(r.rebuilding === true ? ReplicaFlag.Rebuilding : 0, pos);
    pos = writeShortString(head, pos, r.serverId);
    pos = writeShortString(head, pos, r.address);
  }
  for (let i = 0; i < crcCount; i++) pos = head.writeUInt32BE(req.crcs![i]!, pos);
  if (op === DataOp.Copy) {
    for (let i = 0; i < crcCount; i++) {
      pos = head.writeUInt32BE(req.stamps!.epochs[i]!, pos);
      pos = head.writeUInt32BE(req.stamps!.seqs[i]!, pos);
    }
  }
  assert(pos === headBytes, 'request header size');
  head.writeUInt32BE(headerCrc(head, headBytes), requestHeaderCrcOffset);
  return payloadBytes > 0 ? [head, payloadOf(req)!] : [head];
}

/** What a request carries in its stamp slot (docs/data-path.md, request frame). */
function stampSlot(req: DataRequest): [number, number] {
  switch (req.op) {
    case DataOp.Copy:
      return [req.floorEpoch!, 0];
    case DataOp.SnapshotRead:
      return [0, req.snapshot!];
    case DataOp.SnapshotDiff:
      return [req.snapshotFrom ?? 0, req.snapshot ?? 0];
    default:
      return [req.stamp?.epoch ?? 0, req.stamp?.seq ?? 0];
  }
}

const replicaFieldMessage = `replica field must be 1..${replicaFieldBytesMax} bytes`;

function writeShortString(buf: Buffer, pos: number, s: string): number {
  const n = Buffer.byteLength(s);
  assert(n > 0 && n <= replicaFieldBytesMax, replicaFieldMessage);
  buf.writeUInt8(n, pos);
  buf.write(s, pos + 1);
  return pos + 1 + n;
}

/** Decodes one complete request frame (prefix included). */
export function decodeRequest(frame: Buffer): Decoded<DataRequest> {
  if (frame.length < requestHeaderBytes) return fail(0, ErrorCode.Protocol, `request frame of ${frame.length} bytes is shorter than its ${requestHeaderBytes}-byte header`);
  if (frame.readUInt32BE(0) !== requestMagic) return fail(0, ErrorCode.Protocol, 'bad request magic');
  const headBytes = requestHeadBytes(frame);
  if (headBytes === undefined || frame.readUInt32BE(requestHeaderCrcOffset) !== headerCrc(frame, headBytes)) {
    return fail(0, ErrorCode.Protocol, 'request header checksum mismatch (or a header that overruns its frame)');
  }
  const requestId = frame.readUInt32BE(12);
  const op = frame.readUInt8(8);
  if (!isDataOp(op)) return fail(requestId, ErrorCode.Protocol, `unknown op code ${op}`);
  const flags = frame.readUInt8(9);
  if ((flags & ~dataFlagsMask) !== 0) return fail(requestId, ErrorCode.Protocol, `unknown flags 0x${flags.toString(16)}`);
  const sizeLog2 = frame.readUInt8(10);
  if (sizeLog2 < extentSizeLog2Min || sizeLog2 > extentSizeLog2Max) return fail(requestId, ErrorCode.Protocol, `extent size 2^${sizeLog2} outside 2^${extentSizeLog2Min}..2^${extentSizeLog2Max}`);
  const replicaCount = frame.readUInt8(11);
  if (replicaCount < 1 || replicaCount > limits.replicationFactorMax) return fail(requestId, ErrorCode.Protocol, `replica count ${replicaCount} outside 1..${limits.replicationFactorMax}`);
  const volumeId = readU64(frame, 16);
  const offset = readU64(frame, 32);
  const epoch = readU64(frame, 40);
  const generation = readU64(frame, 48);
  const tooLarge = volumeId < 0 ? 'volumeId' : offset < 0 ? 'offset' : epoch < 0 ? 'epoch' : generation < 0 ? 'generation' : undefined;
  if (tooLarge !== undefined) return fail(requestId, ErrorCode.Protocol, `${tooLarge} is not below 2^53`);
  const length = frame.readUInt32BE(28);
  const replicas = decodeReplicas(frame, replicaCount);
  if (replicas === undefined) return fail(requestId, ErrorCode.Protocol, 'replica list overruns the frame or has unknown flags');
  const extent: ExtentRef = { volumeId, index: frame.readUInt32BE(24), extentSizeBytes: 2 ** sizeLog2, epoch, generation, replicas: replicas.list };
  return decodeRequestBody(frame, replicas.end, { op, flags, requestId, extent, offset, length });
}

/** Recomputes a request frame's header checksum after its header was edited (tests, tools). */
export function resealRequestHeader(frame: Buffer): void {
  const headBytes = requestHeadBytes(frame);
  assert(headBytes !== undefined, 'header overruns the frame');
  frame.writeUInt32BE(headerCrc(frame, headBytes), requestHeaderCrcOffset);
}

function headerCrc(head: Buffer, headBytes: number): number {
  return crc32c(head.subarray(requestHeaderCrcOffset + 4, headBytes), crc32c(head.subarray(0, requestHeaderCrcOffset)));
}

/** Header length a request frame claims (fixed part, replica list, CRC and stamp lists), if it fits. */
function requestHeadBytes(frame: Buffer): number | undefined {
  let pos = requestHeaderBytes;
  for (let i = frame.readUInt8(11); i > 0; i--) {
    pos += 1; // the entry's flags
    for (let k = 0; k < 2; k++) {
      if (pos >= frame.length) return undefined;
      pos += 1 + frame.readUInt8(pos);
    }
  }
  const op = frame.readUInt8(8);
  const length = frame.readUInt32BE(28);
  // Of a COPY that is not whole blocks the lists are not sized here: decodeRequestBody refuses it.
  const lists = op === DataOp.Copy && length % limits.checksumBlockBytes !== 0 ? 0 : listBytes(op, frame.readUInt32BE(36) % limits.checksumBlockBytes, length);
  return pos + lists <= frame.length ? pos + lists : undefined;
}

function decodeReplicas(frame: Buffer, count: number): { list: ReplicaRef[]; end: number } | undefined {
  const list: ReplicaRef[] = [];
  let pos = requestHeaderBytes;
  for (let i = 0; i < count; i++) {
    if (pos + 1 > frame.length) return undefined;
    const flags = frame.readUInt8(pos);
    if ((flags & ~ReplicaFlag.Rebuilding) !== 0) return undefined;
    const id = readShortString(frame, pos + 1);
    if (id === undefined) return undefined;
    const address = readShortString(frame, id.end);
    if (address === undefined) return undefined;
    list.push(flags === 0 ? { serverId: id.value, address: address.value } : { serverId: id.value, address: address.value, rebuilding: true });
    pos = address.end;
  }
  return { list, end: pos };
}

function readShortString(frame: Buffer, pos: number): { value: string; end: number } | undefined {
  if (pos + 1 > frame.length) return undefined;
  const n = frame.readUInt8(pos);
  if (n === 0 || pos + 1 + n > frame.length) return undefined;
  return { value: frame.toString('utf8', pos + 1, pos + 1 + n), end: pos + 1 + n };
}

function decodeRequestBody(frame: Buffer, pos: number, req: DataRequest): Decoded<DataRequest> {
  const { requestId, op, offset, length } = req;
  const block = limits.checksumBlockBytes;
  const stampEpoch = frame.readUInt32BE(requestStampOffset);
  const stampSeq = frame.readUInt32BE(requestStampOffset + 4);
  if (snapshotControl(op)) return decodeSnapshotControl(frame, pos, req, { epoch: stampEpoch, seq: stampSeq });
  if (op === DataOp.Stamps || op === DataOp.Copy || op === DataOp.SnapshotDiff) {
    if (offset % block !== 0 || length % block !== 0) return fail(requestId, ErrorCode.Protocol, `${dataOpNames[op]} needs a range of whole ${block}-byte blocks`);
  }
  if (op === DataOp.Auth) return decodeAuthBody(frame, pos, req);
  if (op === DataOp.SnapshotDiff && length / block > limits.snapshotDiffBlocksMax) return fail(requestId, ErrorCode.Protocol, `snapshot diff of ${length / block} blocks above ${limits.snapshotDiffBlocksMax}`);
  if (length > (op === DataOp.Stamps || op === DataOp.SnapshotDiff ? req.extent.extentSizeBytes : limits.ioRequestBytesMax)) return fail(requestId, ErrorCode.Protocol, `length ${length} above ioRequestBytesMax ${limits.ioRequestBytesMax}`);
  if (offset + length > req.extent.extentSizeBytes) return fail(requestId, ErrorCode.OutOfRange, `range [${offset}, ${offset + length}) outside the extent of ${req.extent.extentSizeBytes} bytes`);
  if (op === DataOp.Flush || op === DataOp.Info || op === DataOp.Ping) {
    if (offset !== 0 || length !== 0) return fail(requestId, ErrorCode.Protocol, 'flush, info and ping take no range');
  } else if (length === 0) {
    return fail(requestId, ErrorCode.Protocol, 'empty range');
  }
  if ((req.flags & DataFlag.Fua) !== 0 && op !== DataOp.Write && op !== DataOp.WriteZeroes && op !== DataOp.Trim) {
    return fail(requestId, ErrorCode.Protocol, 'FUA applies to writes only');
  }
  if ((req.flags & DataFlag.Verify) !== 0 && op !== DataOp.Stamps) return fail(requestId, ErrorCode.Protocol, 'VERIFY applies to stamps only');
  if (op === DataOp.Copy && (req.flags & DataFlag.Forwarded) === 0) return fail(requestId, ErrorCode.Protocol, 'copy is sent by a primary only (FORWARDED)');
  if (op === DataOp.SnapshotRead || op === DataOp.SnapshotDiff) {
    if (op === DataOp.SnapshotRead && (stampEpoch !== 0 || stampSeq === 0)) return fail(requestId, ErrorCode.Protocol, 'snapshot read names one snapshot (stamp seq slot, above 0)');
    if (pos !== frame.length) return fail(requestId, ErrorCode.Protocol, `${frame.length - pos} unexpected bytes after the header`);
    return { kind: 'ok', value: op === DataOp.SnapshotRead ? { ...req, snapshot: stampSeq } : { ...req, snapshotFrom: stampEpoch, snapshot: stampSeq } };
  }
  if (op === DataOp.Trim || op === DataOp.WriteZeroes) {
    if (pos !== frame.length) return fail(requestId, ErrorCode.Protocol, `${frame.length - pos} unexpected bytes after the header`);
    return { kind: 'ok', value: { op, flags: req.flags, requestId, extent: req.extent, offset, length, stamp: { epoch: stampEpoch, seq: stampSeq } } };
  }
  if (!carriesData(op)) {
    if (stampEpoch !== 0 || stampSeq !== 0) return fail(requestId, ErrorCode.Protocol, 'a stamp on a request that stores nothing');
    if (pos !== frame.length) return fail(requestId, ErrorCode.Protocol, `${frame.length - pos} unexpected bytes after the header`);
    return { kind: 'ok', value: req };
  }
  const lists = listBytes(op, offset, length);
  if (frame.length - pos !== lists + length) return fail(requestId, ErrorCode.Protocol, `${op === DataOp.Write ? 'write' : 'copy'} body of ${frame.length - pos} bytes, expected ${lists + length}`);
  const crcCount = op === DataOp.Write ? lists / 4 : lists / 12;
  const crcs = new Uint32Array(crcCount);
  for (let i = 0; i < crcCount; i++) crcs[i] = frame.readUInt32BE(pos + 4 * i);
  const payload = frame.subarray(pos + lists);
  if (op === DataOp.Write) return { kind: 'ok', value: { op, flags: req.flags, requestId, extent: req.extent, offset, length, crcs, payload, stamp: { epoch: stampEpoch, seq: stampSeq } } };
  if (stampSeq !== 0) return fail(requestId, ErrorCode.Protocol, 'copy carries a floor epoch, not a stamp');
  const stamps = { epochs: new Uint32Array(crcCount), seqs: new Uint32Array(crcCount) };
  for (let i = 0, at = pos + 4 * crcCount; i < crcCount; i++, at += 8) {
    stamps.epochs[i] = frame.readUInt32BE(at);
    stamps.seqs[i] = frame.readUInt32BE(at + 4);
  }
  return { kind: 'ok', value: { op, flags: req.flags, requestId, extent: req.extent, offset, length, crcs, payload, stamps, floorEpoch: stampEpoch } };
}

function decodeAuthBody(frame: Buffer, pos: number, req: DataRequest): Decoded<DataRequest> {
  const { requestId, length } = req;
  if (req.flags !== 0 || req.offset !== 0 || frame.readUInt32BE(requestStampOffset) !== 0 || frame.readUInt32BE(requestStampOffset + 4) !== 0) return fail(requestId, ErrorCode.Protocol, 'auth takes no flags, offset or stamp');
  if (length === 0 || length > limits.capabilityTokenBytesMax) return fail(requestId, ErrorCode.Protocol, `auth token of ${length} bytes outside 1..${limits.capabilityTokenBytesMax}`);
  if (frame.length - pos !== length) return fail(requestId, ErrorCode.Protocol, `auth body of ${frame.length - pos} bytes, expected ${length}`);
  return { kind: 'ok', value: { op: DataOp.Auth, flags: 0, requestId, extent: req.extent, offset: 0, length, crcs: noCrcs, payload: frame.subarray(pos) } };
}

/** SNAPSHOT and SNAPSHOT_DELETE: the id in the offset field, no range, no data; SNAPSHOT's stamp when forwarded. */
function decodeSnapshotControl(frame: Buffer, pos: number, req: DataRequest, stamp: Stamp): Decoded<DataRequest> {
  const { requestId, op, offset, length } = req;
  const install = op === DataOp.SnapshotInstall;
  if (offset === 0 || offset > 0xffffffff || (!install && length !== 0)) return fail(requestId, ErrorCode.Protocol, `${dataOpNames[op]} names a snapshot id (1..2^32-1) in the offset field and takes no range`);
  if ((req.flags & (DataFlag.Fua | DataFlag.Verify)) !== 0) return fail(requestId, ErrorCode.Protocol, `FUA and VERIFY do not apply to ${dataOpNames[op]}`);
  if (op !== DataOp.Snapshot && (stamp.epoch !== 0 || stamp.seq !== 0)) return fail(requestId, ErrorCode.Protocol, 'a stamp on a request that stores nothing');
  if (install && (req.flags & DataFlag.Forwarded) === 0) return fail(requestId, ErrorCode.Protocol, 'snapshot install is sent by a primary only (FORWARDED)');
  if (frame.length - pos !== (install ? length : 0)) return fail(requestId, ErrorCode.Protocol, `${frame.length - pos} bytes after the header, expected ${install ? length : 0}`);
  const base = { op, flags: req.flags, requestId, extent: req.extent, offset: 0, length, snapshot: offset };
  if (install) return { kind: 'ok', value: { ...base, payload: frame.subarray(pos) } };
  return { kind: 'ok', value: op === DataOp.Snapshot ? { ...base, stamp } : base };
}

/** One block of a snapshot layer on the wire (SNAPSHOT_INSTALL). */
export interface SnapshotRecordWire {
  readonly block: number;
  readonly crc: number;
  readonly epoch: number;
  readonly seq: number;
  readonly data: Buffer;
}

/** SNAPSHOT_INSTALL payload: u32 count, then per record u32 block, crc, epoch, seq and the 4 KiB data. */
export function encodeSnapshotRecords(records: readonly SnapshotRecordWire[]): Buffer {
  const block = limits.checksumBlockBytes;
  const buf = Buffer.allocUnsafe(4 + records.length * (16 + block));
  let pos = buf.writeUInt32BE(records.length, 0);
  for (const r of records) {
    assert(r.data.length === block, 'a snapshot record is one block');
    pos = buf.writeUInt32BE(r.block, pos);
    pos = buf.writeUInt32BE(r.crc, pos);
    pos = buf.writeUInt32BE(r.epoch, pos);
    pos = buf.writeUInt32BE(r.seq, pos);
    pos += r.data.copy(buf, pos);
  }
  return buf;
}

/** Reads a SNAPSHOT_INSTALL payload; undefined when malformed or a record's data does not match its CRC. */
export function decodeSnapshotRecords(payload: Buffer): SnapshotRecordWire[] | undefined {
  const block = limits.checksumBlockBytes;
  if (payload.length < 4) return undefined;
  const n = payload.readUInt32BE(0);
  if (payload.length !== 4 + n * (16 + block)) return undefined;
  const out: SnapshotRecordWire[] = [];
  for (let i = 0, pos = 4; i < n; i++, pos += 16 + block) {
    const data = payload.subarray(pos + 16, pos + 16 + block);
    const crc = payload.readUInt32BE(pos + 4);
    if (crc32c(data) !== crc) return undefined;
    out.push({ block: payload.readUInt32BE(pos), crc, epoch: payload.readUInt32BE(pos + 8), seq: payload.readUInt32BE(pos + 12), data });
  }
  return out;
}

/** The payload of a SNAPSHOT_DIFF reply: u32 count, then the block numbers. */
export function encodeBlockList(blocks: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(4 + 4 * blocks.length);
  let pos = buf.writeUInt32BE(blocks.length, 0);
  for (const b of blocks) pos = buf.writeUInt32BE(b, pos);
  return buf;
}

/** Reads a SNAPSHOT_DIFF reply's payload; undefined when malformed. */
export function decodeBlockList(payload: Buffer): number[] | undefined {
  if (payload.length < 4) return undefined;
  const n = payload.readUInt32BE(0);
  if (payload.length !== 4 + 4 * n) return undefined;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(payload.readUInt32BE(4 + 4 * i));
  return out;
}

/** The payload of a STAMPS reply: per block (epoch u32, seq u32), then u32 count and the bad block numbers. */
export function encodeStampsPayload(out: StampsOutcome): Buffer {
  const n = out.epochs.length;
  const buf = Buffer.allocUnsafe(8 * n + 4 + 4 * out.bad.length);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    pos = buf.writeUInt32BE(out.epochs[i]!, pos);
    pos = buf.writeUInt32BE(out.seqs[i]!, pos);
  }
  pos = buf.writeUInt32BE(out.bad.length, pos);
  for (const b of out.bad) pos = buf.writeUInt32BE(b, pos);
  return buf;
}

/** Reads a STAMPS reply's payload for `blocks` blocks (their CRCs travel as the reply's CRC list). */
export function decodeStampsPayload(payload: Buffer, crcs: Uint32Array, blocks: number): StampsOutcome | undefined {
  if (crcs.length !== blocks || payload.length < 8 * blocks + 4) return undefined;
  const epochs = new Uint32Array(blocks);
  const seqs = new Uint32Array(blocks);
  for (let i = 0; i < blocks; i++) {
    epochs[i] = payload.readUInt32BE(8 * i);
    seqs[i] = payload.readUInt32BE(8 * i + 4);
  }
  const badCount = payload.readUInt32BE(8 * blocks);
  if (payload.length !== 8 * blocks + 4 + 4 * badCount) return undefined;
  const bad: number[] = [];
  for (let i = 0; i < badCount; i++) bad.push(payload.readUInt32BE(8 * blocks + 4 + 4 * i));
  return { epochs, seqs, crcs, bad };
}

/** Encodes a reply as [header] or [header, payload]. */
export function encodeResponse(res: DataResponse): Buffer[] {
  if (!res.ok) return [encodeErrorResponse(res)];
  const head = Buffer.allocUnsafe(responseHeaderBytes + 4 * res.crcs.length);
  writeResponseHead(head, res, head.length + res.payload.length - framePrefixBytes, 0);
  head.writeUInt32BE(res.crcs.length, 32);
  for (let i = 0; i < res.crcs.length; i++) head.writeUInt32BE(res.crcs[i]!, responseHeaderBytes + 4 * i);
  return res.payload.length > 0 ? [head, res.payload] : [head];
}

const noState = Buffer.alloc(0);

function encodeErrorResponse(res: ResponseHead & { code: Code; message: string; signedState?: Buffer }): Buffer {
  const message = Buffer.from(res.message.slice(0, 1000));
  const state = res.signedState ?? noState;
  const bytes = responseHeaderBytes + 1 + res.code.length + 2 + message.length + state.length;
  const buf = Buffer.allocUnsafe(bytes);
  writeResponseHead(buf, res, bytes - framePrefixBytes, 1);
  buf.writeUInt32BE(state.length, 32);
  let pos = buf.writeUInt8(res.code.length, responseHeaderBytes);
  pos += buf.write(res.code, pos, 'latin1');
  pos = buf.writeUInt16BE(message.length, pos);
  pos += message.copy(buf, pos);
  state.copy(buf, pos);
  return buf;
}

function writeResponseHead(buf: Buffer, res: ResponseHead, bodyBytes: number, status: number): void {
  buf.writeUInt32BE(responseMagic, 0);
  buf.writeUInt32BE(bodyBytes, 4);
  buf.writeUInt32BE(res.requestId, 8);
  buf.writeUInt8(status, 12);
  buf.writeUInt8(res.state, 13);
  buf.writeUInt16BE(0, 14);
  writeU64(buf, 16, res.epoch);
  writeU64(buf, 24, res.version);
}

/** Decodes one complete response frame (prefix included). */
export function decodeResponse(frame: Buffer): Decoded<DataResponse> {
  if (frame.length < responseHeaderBytes) return fail(0, ErrorCode.Protocol, `response frame of ${frame.length} bytes is shorter than its header`);
  if (frame.readUInt32BE(0) !== responseMagic) return fail(0, ErrorCode.Protocol, 'bad response magic');
  const requestId = frame.readUInt32BE(8);
  const status = frame.readUInt8(12);
  const epoch = readU64(frame, 16);
  const version = readU64(frame, 24);
  const state = frame.readUInt8(13) as ExtentState;
  if (epoch < 0 || version < 0 || state > 3) return fail(requestId, ErrorCode.Protocol, 'bad response header');
  if (status === 1) return decodeErrorBody(frame, { requestId, epoch, version, state });
  if (status !== 0) return fail(requestId, ErrorCode.Protocol, `unknown status ${status}`);
  const crcCount = frame.readUInt32BE(32);
  const payloadAt = responseHeaderBytes + 4 * crcCount;
  if (payloadAt > frame.length) return fail(requestId, ErrorCode.Protocol, 'CRC list overruns the frame');
  const crcs = new Uint32Array(crcCount);
  for (let i = 0; i < crcCount; i++) crcs[i] = frame.readUInt32BE(responseHeaderBytes + 4 * i);
  return { kind: 'ok', value: { requestId, epoch, version, state, ok: true, crcs, payload: frame.subarray(payloadAt) } };
}

function decodeErrorBody(frame: Buffer, head: ResponseHead): Decoded<DataResponse> {
  const bad = fail<DataResponse>(head.requestId, ErrorCode.Protocol, 'malformed error reply');
  let pos = responseHeaderBytes;
  if (pos + 1 > frame.length) return bad;
  const codeLen = frame.readUInt8(pos);
  if (pos + 1 + codeLen + 2 > frame.length) return bad;
  const code = frame.toString('latin1', pos + 1, pos + 1 + codeLen) as Code;
  pos += 1 + codeLen;
  const msgLen = frame.readUInt16BE(pos);
  const stateLen = frame.readUInt32BE(32);
  if (stateLen > limits.capabilityTokenBytesMax || pos + 2 + msgLen + stateLen !== frame.length) return bad;
  const message = frame.toString('utf8', pos + 2, pos + 2 + msgLen);
  if (stateLen === 0) return { kind: 'ok', value: { ...head, ok: false, code, message } };
  const signedState = Buffer.from(frame.subarray(pos + 2 + msgLen));
  return { kind: 'ok', value: { ...head, ok: false, code, message, signedState } };
}
