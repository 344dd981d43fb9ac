import fs from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import { limits } from '@basalt/stdx';
import type { SnapshotInfo } from './cluster-types.js';
import { diffInvalid, encodeDiffEnd, encodeDiffHeader, encodeDiffRecord, readDiff, type DiffHeader, type DiffRecord } from './diff-format.js';
import type { BlockRange, Volume } from './volume.js';

/** Bytes done of bytes to do, for a progress line. */
export type TransferProgress = (doneBytes: number, totalBytes: number) => void;

/**
 * Writes the diff of snapshot `to` (open as `view`) against `from` (undefined: a full diff) to
 * `file` (diff-format.ts), synced before it resolves. The blocks come from stamps (SNAPSHOT_DIFF);
 * a full diff of a clone reads every block instead (it holds its parent's data without stamps)
 * and writes the non-zero ones.
 */
export async function exportDiff(view: Volume, header: DiffHeader, from: SnapshotInfo | undefined, clone: boolean, file: string, progress: TransferProgress = () => undefined): Promise<{ records: number; bytes: number }> {
  const ranges = from === undefined && clone ? wholeVolume(view.size) : await view.changedRanges(from);
  const total = ranges.reduce((n, r) => n + r.length, 0);
  const fd = await fs.promises.open(file, 'w');
  try {
    let crc = 0;
    const put = async (buf: Buffer): Promise<void> => {
      crc = crc32c(buf, crc);
      await fd.write(buf);
    };
    await put(encodeDiffHeader(header));
    let records = 0;
    let done = 0;
    for (const r of ranges) {
      const data = await view.read(r.offset, r.length);
      const zeros = data.every((b) => b === 0);
      if (!(zeros && from === undefined)) {
        const record: DiffRecord = zeros ? { kind: 'zeros', offset: r.offset, length: r.length } : { kind: 'data', offset: r.offset, data };
        await put(encodeDiffRecord(record));
        records++;
      }
      done += r.length;
      progress(done, total);
    }
    await fd.write(encodeDiffEnd(records, crc));
    await fd.sync();
    return { records, bytes: total };
  } finally {
    await fd.close();
  }
}

/**
 * Reads and checks a whole diff file without applying it: its header, the bytes its records cover
 * and the ranges they write (ascending, adjacent records joined).
 */
export async function checkDiff(file: string): Promise<{ header: DiffHeader; bytes: number; ranges: BlockRange[] }> {
  let header: DiffHeader | undefined;
  let bytes = 0;
  const ranges: BlockRange[] = [];
  for await (const item of readDiffFile(file)) {
    if ('to' in item) {
      header = item;
      continue;
    }
    const length = item.kind === 'data' ? item.data.length : item.length;
    bytes += length;
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last.offset + last.length === item.offset) ranges[ranges.length - 1] = { offset: last.offset, length: last.length + length };
    else ranges.push({ offset: item.offset, length });
  }
  if (header === undefined) throw diffInvalid('no header');
  return { header, bytes, ranges };
}

/**
 * The parts of `changed` that no range of `covered` holds (both ascending, without overlap). An
 * import checks that its target reads as the diff's base there: elsewhere the diff writes.
 */
export function uncoveredRanges(changed: readonly BlockRange[], covered: readonly BlockRange[]): BlockRange[] {
  const out: BlockRange[] = [];
  let k = 0;
  for (const c of changed) {
    const end = c.offset + c.length;
    for (let pos = c.offset; pos < end;) {
      while (k < covered.length && covered[k]!.offset + covered[k]!.length <= pos) k++;
      const r = covered[k];
      const stop = r === undefined ? end : Math.min(end, r.offset);
      if (stop > pos) out.push({ offset: pos, length: stop - pos });
      pos = r === undefined ? end : Math.max(stop, r.offset + r.length);
    }
  }
  return out;
}

/** Applies a checked diff file to a writer's volume: data records written, zero records written as zeros. */
export async function applyDiff(target: Volume, file: string, total: number, progress: TransferProgress = () => undefined): Promise<number> {
  let done = 0;
  for await (const item of readDiffFile(file)) {
    if ('to' in item) continue;
    if (item.kind === 'data') await target.write(item.offset, item.data);
    else await target.writeZeroes(item.offset, item.length);
    done += item.kind === 'data' ? item.data.length : item.length;
    progress(done, total);
  }
  await target.flush();
  return done;
}

async function* readDiffFile(file: string): AsyncGenerator<DiffHeader | DiffRecord> {
  const fd = await fs.promises.open(file, 'r');
  try {
    let pos = 0;
    yield* readDiff(async (n) => {
      const buf = Buffer.alloc(n);
      const { bytesRead } = await fd.read(buf, 0, n, pos);
      pos += bytesRead;
      return buf.subarray(0, bytesRead);
    });
  } finally {
    await fd.close();
  }
}

function wholeVolume(size: number): BlockRange[] {
  const out: BlockRange[] = [];
  for (let pos = 0; pos < size; pos += limits.ioRequestBytesMax) out.push({ offset: pos, length: Math.min(limits.ioRequestBytesMax, size - pos) });
  return out;
}
