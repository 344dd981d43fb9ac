import { crc32c } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '@basalt/stdx';
import { diffFormatVersion, encodeDiffEnd, encodeDiffHeader, encodeDiffRecord, readDiff, type DiffHeader, type DiffRecord } from './diff-format.js';

const block = 4096;
const header: DiffHeader = { volume: 'src', sizeBytes: 16 * block, from: { name: 'a', id: 1 }, to: { name: 'b', id: 2 }, createdAtMs: 1 };

/** A whole diff file with every checksum right: only the checks of content can refuse it. */
function file(records: readonly DiffRecord[], head: Buffer = encodeDiffHeader(header)): Buffer {
  const body = Buffer.concat([head, ...records.map(encodeDiffRecord)]);
  return Buffer.concat([body, encodeDiffEnd(records.length, crc32c(body))]);
}

/** A header whose JSON is `json`, with its CRC right. */
function rawHeader(json: string): Buffer {
  const text = Buffer.from(json);
  const buf = Buffer.alloc(16 + text.length + 4);
  buf.write('BASALTDF', 0, 'latin1');
  buf.writeUInt32BE(diffFormatVersion, 8);
  buf.writeUInt32BE(text.length, 12);
  text.copy(buf, 16);
  buf.writeUInt32BE(crc32c(text), 16 + text.length);
  return buf;
}

async function readAll(buf: Buffer): Promise<unknown[]> {
  let pos = 0;
  const out: unknown[] = [];
  for await (const item of readDiff((n) => Promise.resolve(buf.subarray(pos, (pos += n))))) out.push(item);
  return out;
}

const data = (offset: number, blocks: number): DiffRecord => ({ kind: 'data', offset, data: Buffer.alloc(blocks * block, 7) });
const zeros = (offset: number, length: number): DiffRecord => ({ kind: 'zeros', offset, length });

describe('reading a diff file', () => {
  it('reads the header and the records of a well-formed file', async () => {
    const items = await readAll(file([data(0, 2), zeros(4 * block, block), data(15 * block, 1)]));
    expect(items[0]).toEqual(header);
    expect(items.slice(1).map((r) => (r as DiffRecord).offset)).toEqual([0, 4 * block, 15 * block]);
  });

  it('refuses records that are not whole blocks, out of order, overlapping or past the volume, though every checksum is right', async () => {
    const cases: [string, DiffRecord[]][] = [
      ['misaligned offset', [data(100, 1)]],
      ['partial length', [zeros(0, 100)]],
      ['reordered', [data(4 * block, 1), data(0, 1)]],
      ['overlapping', [data(0, 2), zeros(block, block)]],
      ['past the end', [data(15 * block, 2)]],
    ];
    for (const [what, records] of cases) {
      await expect(readAll(file(records)), what).rejects.toMatchObject({ code: ErrorCode.DiffInvalid });
    }
  });

  it('refuses a header that is not JSON or lacks its fields with BASALT_DIFF_INVALID', async () => {
    for (const json of ['{not json', 'null', '{"volume":"v","createdAtMs":1,"from":null,"to":{"name":"b","id":2}}', JSON.stringify({ ...header, sizeBytes: 100 }), JSON.stringify({ ...header, to: null }), JSON.stringify({ ...header, from: { name: 3 } })]) {
      await expect(readAll(file([], rawHeader(json))), json).rejects.toMatchObject({ code: ErrorCode.DiffInvalid });
    }
  });
});
