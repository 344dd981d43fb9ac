import { crc32c } from '@node-rs/crc32';
import { BasaltError, ErrorCode, limits } from '@basalt/stdx';

/**
 * The file `basalt snapshot diff --to FILE` writes and `basalt volume import --diff FILE` reads
 * (docs/snapshots.md, "Diff files"). Big-endian, in this order:
 *
 *   header   "BASALTDF" | u32 version (1) | u32 n | n bytes of JSON (DiffHeader) | u32 CRC32C of the JSON
 *   records  u8 kind ('D' data, 'Z' zeros) | u64 offset | u32 length | 'D': length bytes of data
 *            | u32 CRC32C of the record's bytes before it
 *   end      u8 'E' | u64 record count | u32 CRC32C of every byte of the file before this 'E'
 *
 * Offsets and lengths are whole 4 KiB blocks of the volume, records ascending without overlap and
 * within the header's size. A reader checks all of it (every CRC, the header's fields, each
 * record's place) before it applies anything (snapshot-transfer.ts checkDiff), so a damaged, cut
 * or reordered file changes nothing.
 */
export interface DiffHeader {
  /** The source volume's name and size when `to` was taken. */
  readonly volume: string;
  readonly sizeBytes: number;
  /** The base snapshot the target must hold (its name), or null for a full diff. */
  readonly from: { readonly name: string; readonly id: number } | null;
  readonly to: { readonly name: string; readonly id: number };
  readonly createdAtMs: number;
}

export type DiffRecord =
  | { readonly kind: 'data'; readonly offset: number; readonly data: Buffer }
  | { readonly kind: 'zeros'; readonly offset: number; readonly length: number };

const magic = Buffer.from('BASALTDF');
const blockBytes = limits.checksumBlockBytes;
export const diffFormatVersion = 1;
const recordHead = 13;

export function encodeDiffHeader(h: DiffHeader): Buffer {
  const json = Buffer.from(JSON.stringify(h));
  const buf = Buffer.alloc(magic.length + 8 + json.length + 4);
  magic.copy(buf, 0);
  buf.writeUInt32BE(diffFormatVersion, 8);
  buf.writeUInt32BE(json.length, 12);
  json.copy(buf, 16);
  buf.writeUInt32BE(crc32c(json), 16 + json.length);
  return buf;
}

export function encodeDiffRecord(r: DiffRecord): Buffer {
  const length = r.kind === 'data' ? r.data.length : r.length;
  const buf = Buffer.alloc(recordHead + (r.kind === 'data' ? length : 0) + 4);
  buf.writeUInt8(r.kind === 'data' ? 0x44 : 0x5a, 0);
  buf.writeBigUInt64BE(BigInt(r.offset), 1);
  buf.writeUInt32BE(length, 9);
  if (r.kind === 'data') r.data.copy(buf, recordHead);
  buf.writeUInt32BE(crc32c(buf.subarray(0, buf.length - 4)), buf.length - 4);
  return buf;
}

export function encodeDiffEnd(records: number, fileCrc: number): Buffer {
  const buf = Buffer.alloc(13);
  buf.writeUInt8(0x45, 0);
  buf.writeBigUInt64BE(BigInt(records), 1);
  buf.writeUInt32BE(fileCrc, 9);
  return buf;
}

export function diffInvalid(reason: string): BasaltError {
  return new BasaltError(ErrorCode.DiffInvalid, `diff file is not valid: ${reason}`, { reason });
}

/** A byte source read front to back: `read(n)` gives exactly n bytes or fewer at the end. */
export type ByteSource = (n: number) => Promise<Buffer>;

/**
 * Reads a diff: the header (its CRC and fields checked), then each record (its CRC and its place
 * checked), then the end (record count and the whole file's CRC checked). BASALT_DIFF_INVALID at
 * the first fault.
 */
export async function* readDiff(read: ByteSource): AsyncGenerator<DiffHeader | DiffRecord> {
  let fileCrc = 0;
  const take = async (n: number): Promise<Buffer> => {
    const buf = await read(n);
    if (buf.length !== n) throw diffInvalid('the file ends early (cut or truncated)');
    fileCrc = crc32c(buf, fileCrc);
    return buf;
  };
  const start = await take(16);
  if (!start.subarray(0, 8).equals(magic)) throw diffInvalid('no BASALTDF magic: not a Basalt diff file');
  if (start.readUInt32BE(8) !== diffFormatVersion) throw diffInvalid(`format version ${start.readUInt32BE(8)}; this client reads ${diffFormatVersion}`);
  const jsonLength = start.readUInt32BE(12);
  if (jsonLength > 64 * 1024) throw diffInvalid(`a header of ${jsonLength} bytes`);
  const json = await take(jsonLength);
  if (crc32c(json) !== (await take(4)).readUInt32BE(0)) throw diffInvalid('header checksum mismatch');
  const header = parseHeader(json);
  yield header;
  let records = 0;
  /** Where the previous record ended: records are ascending and do not overlap. */
  let covered = 0;
  for (;;) {
    const before = fileCrc;
    const kind = (await take(1)).readUInt8(0);
    if (kind === 0x45) {
      const end = await read(12);
      if (end.length !== 12) throw diffInvalid('the file ends early (cut or truncated)');
      if (Number(end.readBigUInt64BE(0)) !== records) throw diffInvalid(`the end says ${end.readBigUInt64BE(0)} records, the file holds ${records}`);
      if (end.readUInt32BE(8) !== before) throw diffInvalid('file checksum mismatch');
      if ((await read(1)).length !== 0) throw diffInvalid('bytes after the end record');
      return;
    }
    if (kind !== 0x44 && kind !== 0x5a) throw diffInvalid(`unknown record kind 0x${kind.toString(16)}`);
    const head = await take(recordHead - 1);
    const offset = Number(head.readBigUInt64BE(0));
    const length = head.readUInt32BE(8);
    if (length === 0 || length > 64 * 1024 * 1024) throw diffInvalid(`a record of ${length} bytes`);
    const data = kind === 0x44 ? await take(length) : undefined;
    const crc = (await take(4)).readUInt32BE(0);
    let mine = crc32c(Buffer.from([kind]));
    mine = crc32c(head, mine);
    if (data !== undefined) mine = crc32c(data, mine);
    if (mine !== crc) throw diffInvalid(`record ${records} (offset ${offset}) checksum mismatch`);
    if (offset % blockBytes !== 0 || length % blockBytes !== 0) throw diffInvalid(`record ${records} (offset ${offset}, ${length} bytes) is not whole ${blockBytes}-byte blocks`);
    if (offset < covered) throw diffInvalid(`record ${records} (offset ${offset}) is out of order or overlaps the one before it (which ends at ${covered})`);
    if (offset + length > header.sizeBytes) throw diffInvalid(`record ${records} (offset ${offset}, ${length} bytes) ends past the volume's ${header.sizeBytes} bytes`);
    covered = offset + length;
    records++;
    yield data === undefined ? { kind: 'zeros', offset, length } : { kind: 'data', offset, data };
  }
}

/** The header's JSON, checked field by field (its CRC only says it arrived as written). */
function parseHeader(json: Buffer): DiffHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json.toString('utf8'));
  } catch {
    throw diffInvalid('the header is not JSON');
  }
  const h = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const size = h.sizeBytes;
  if (typeof h.volume !== 'string' || typeof h.createdAtMs !== 'number') throw diffInvalid('the header lacks the source volume or its time');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0 || size % blockBytes !== 0) throw diffInvalid(`the header's volume size ${String(size)} is not a positive number of ${blockBytes}-byte blocks`);
  if (!isSnapshotRef(h.to) || (h.from !== null && !isSnapshotRef(h.from))) throw diffInvalid('the header\'s snapshots (from, to) are malformed');
  return { volume: h.volume, sizeBytes: size, from: h.from, to: h.to, createdAtMs: h.createdAtMs };
}

function isSnapshotRef(x: unknown): x is { readonly name: string; readonly id: number } {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return typeof r.name === 'string' && r.name !== '' && typeof r.id === 'number' && Number.isSafeInteger(r.id);
}
