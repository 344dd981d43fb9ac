import { crc32c } from '@node-rs/crc32';
import { BasaltError, ErrorCode } from '@basalt/stdx';

/**
 * The file `basalt snapshot diff --to FILE` writes and `basalt volume import --diff FILE` reads
 * (docs/snapshots.md, "Diff files"). Big-endian, in this order:
 *
 *   header   "BASALTDF" | u32 version (1) | u32 n | n bytes of JSON (DiffHeader) | u32 CRC32C of the JSON
 *   records  u8 kind ('D' data, 'Z' zeros) | u64 offset | u32 length | 'D': length bytes of data
 *            | u32 CRC32C of the record's bytes before it
 *   end      u8 'E' | u64 record count | u32 CRC32C of every byte of the file before this 'E'
 *
 * Offsets and lengths are whole 4 KiB blocks of the volume. A reader checks every CRC before it
 * applies anything (DiffReader.verify), so a damaged or cut file changes nothing.
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
 * Reads a diff: the header, then each record (its CRC checked), then the end (record count and
 * the whole file's CRC checked). BASALT_DIFF_INVALID at the first fault.
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
  yield JSON.parse(json.toString('utf8')) as DiffHeader;
  let records = 0;
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
    records++;
    yield data === undefined ? { kind: 'zeros', offset, length } : { kind: 'data', offset, data };
  }
}
