import {
  ClientFlag, HandshakeFlag, IHAVEOPT, InfoType, NBDMAGIC, OPTION_HEADER_BYTES, OPTION_REPLY_MAGIC,
  STRING_BYTES_MAX,
} from './constants.js';

/** Encoders and decoders of the handshake phase: greeting, client flags, options, option replies. */

/** The 18 bytes the server sends first: NBDMAGIC, IHAVEOPT, handshake flags. */
export function encodeGreeting(): Buffer {
  const b = Buffer.alloc(18);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(HandshakeFlag.FixedNewstyle | HandshakeFlag.NoZeroes, 16);
  return b;
}

export type ClientFlags = { fixedNewstyle: boolean; noZeroes: boolean };

/** Decodes the client's 32-bit flags; undefined when it sets a bit we did not offer (spec: drop). */
export function decodeClientFlags(b: Buffer): ClientFlags | undefined {
  const flags = b.readUInt32BE(0);
  if ((flags & ~(ClientFlag.FixedNewstyle | ClientFlag.NoZeroes)) !== 0) return undefined;
  return { fixedNewstyle: (flags & ClientFlag.FixedNewstyle) !== 0, noZeroes: (flags & ClientFlag.NoZeroes) !== 0 };
}

export type OptionHeader = { option: number; length: number };

/** Decodes a 16-byte option header; undefined when the magic is wrong (the stream is lost). */
export function decodeOptionHeader(b: Buffer): OptionHeader | undefined {
  if (b.length !== OPTION_HEADER_BYTES || b.readBigUInt64BE(0) !== IHAVEOPT) return undefined;
  return { option: b.readUInt32BE(8), length: b.readUInt32BE(12) };
}

/** Reads length-prefixed fields from option data without ever reading past its end. */
class FieldReader {
  private pos = 0;
  constructor(private readonly data: Buffer) {}

  u16(): number | undefined {
    if (this.pos + 2 > this.data.length) return undefined;
    const v = this.data.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number | undefined {
    if (this.pos + 4 > this.data.length) return undefined;
    const v = this.data.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A string of `n` bytes: valid UTF-8, no NUL, at most STRING_BYTES_MAX bytes. */
  string(n: number): string | undefined {
    if (n > STRING_BYTES_MAX || this.pos + n > this.data.length) return undefined;
    const bytes = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return decodeUtf8(bytes);
  }

  atEnd(): boolean {
    return this.pos === this.data.length;
  }
}

function decodeUtf8(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return undefined;
  const s = bytes.toString('utf8');
  return Buffer.byteLength(s) === bytes.length && !s.includes('\uFFFD') ? s : undefined;
}

export type ExportRequest = { name: string; infoRequests: number[] };

/** NBD_OPT_INFO / NBD_OPT_GO data: name length, name, count, count x 16-bit info types. */
export function decodeExportRequest(data: Buffer): ExportRequest | undefined {
  const r = new FieldReader(data);
  const nameLength = r.u32();
  const name = nameLength === undefined ? undefined : r.string(nameLength);
  const count = r.u16();
  if (name === undefined || count === undefined) return undefined;
  const infoRequests: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = r.u16();
    if (t === undefined) return undefined;
    infoRequests.push(t);
  }
  return r.atEnd() ? { name, infoRequests } : undefined;
}

/** NBD_OPT_EXPORT_NAME data: the whole payload is the name. */
export function decodeExportName(data: Buffer): string | undefined {
  return data.length > STRING_BYTES_MAX ? undefined : decodeUtf8(data);
}

export type MetaContextRequest = { exportName: string; queries: string[] };

/** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT data. */
export function decodeMetaContextRequest(data: Buffer): MetaContextRequest | undefined {
  const r = new FieldReader(data);
  const nameLength = r.u32();
  const exportName = nameLength === undefined ? undefined : r.string(nameLength);
  const count = r.u32();
  if (exportName === undefined || count === undefined || count > data.length) return undefined;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = r.u32();
    const q = n === undefined ? undefined : r.string(n);
    if (q === undefined) return undefined;
    queries.push(q);
  }
  return r.atEnd() ? { exportName, queries } : undefined;
}

/** One fixed-newstyle option reply: magic, option, reply type, length, data. */
export function encodeOptionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(20 + data.length);
  b.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, 20);
  return b;
}

/** An error reply with a human-readable message (bit 31 set in `type`). */
export function encodeOptionError(option: number, type: number, message: string): Buffer {
  return encodeOptionReply(option, type, Buffer.from(truncateUtf8(message, STRING_BYTES_MAX)));
}

/** NBD_REP_SERVER: name length, name (one per export in NBD_OPT_LIST). */
export function encodeRepServer(name: string): Buffer {
  const n = Buffer.from(name);
  const data = Buffer.alloc(4 + n.length);
  data.writeUInt32BE(n.length, 0);
  n.copy(data, 4);
  return data;
}

export function encodeInfoExport(sizeBytes: number, transmissionFlags: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(InfoType.Export, 0);
  b.writeBigUInt64BE(BigInt(sizeBytes), 2);
  b.writeUInt16BE(transmissionFlags, 10);
  return b;
}

export type BlockSizes = { minimumBytes: number; preferredBytes: number; maximumBytes: number };

export function encodeInfoBlockSize(s: BlockSizes): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(InfoType.BlockSize, 0);
  b.writeUInt32BE(s.minimumBytes, 2);
  b.writeUInt32BE(s.preferredBytes, 6);
  b.writeUInt32BE(s.maximumBytes, 10);
  return b;
}

export function encodeInfoString(type: typeof InfoType.Name | typeof InfoType.Description, text: string): Buffer {
  const t = Buffer.from(truncateUtf8(text, STRING_BYTES_MAX));
  const b = Buffer.alloc(2 + t.length);
  b.writeUInt16BE(type, 0);
  t.copy(b, 2);
  return b;
}

export function encodeMetaContext(id: number, name: string): Buffer {
  const n = Buffer.from(name);
  const b = Buffer.alloc(4 + n.length);
  b.writeUInt32BE(id, 0);
  n.copy(b, 4);
  return b;
}

/** The reply to NBD_OPT_EXPORT_NAME: size, transmission flags, 124 zero bytes unless NO_ZEROES. */
export function encodeExportNameReply(sizeBytes: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  b.writeBigUInt64BE(BigInt(sizeBytes), 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

/** Cuts a string to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (used + n > maxBytes) break;
    out += ch;
    used += n;
  }
  return out;
}

