import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { syncDirectory, volumeDir } from './extent-files.js';
import { closeFile, fdatasync, ioError, openFile, readFully, writeFully } from './fs-io.js';
import { blockBytes, zeroBlockCrc } from './sidecar.js';

/**
 * The copy-on-write layer of one snapshot of one extent replica:
 * <dir>/extents/<volumeId>/<index>.snap-<id>, append-only (docs/snapshots.md). Each record is the
 * version of one block as of the snapshot, preserved just before a mutation overwrote it:
 *
 *   u32 magic 0xBA5A5A01, u32 block, u32 CRC32C of the block, u32 stamp epoch, u32 stamp seq,
 *   u32 CRC32C of these 20 bytes, then the 4 KiB of data unless the block's CRC is the zero
 *   block's (a never-written or zeroed block is a header alone).
 *
 * An append is synced before it resolves: the overwrite it protects comes after. A crash during
 * an append leaves a torn tail, which the next open cuts off (the overwrite never happened, so a
 * later mutation preserves the block again). A header damaged inside the file is not a torn
 * tail: the open skips to the next valid header and cuts nothing, so the damage costs that
 * record (its block then reads from newer layers or the extent on this server) and no other. When a block has two records the last counts: a
 * rebuild installs the primary's record over a member's (append with override); copy-on-write
 * appends only blocks the layer does not hold.
 */
export interface LayerRecord {
  readonly block: number;
  readonly crc: number;
  readonly epoch: number;
  readonly seq: number;
  /** Where its data starts in the file; undefined: the data is all zeros. */
  readonly dataAt: number | undefined;
}

export interface LayerEntry {
  readonly block: number;
  readonly crc: number;
  readonly epoch: number;
  readonly seq: number;
  readonly data: Buffer;
}

const magic = 0xba5a5a01;
const headerBytes = 24;
const scanBytes = 1024 * 1024;

export function layerPath(dir: string, volumeId: number, index: number, id: number): string {
  return path.join(volumeDir(dir, volumeId), `${index}.snap-${id}`);
}

export class SnapshotLayer {
  private constructor(
    readonly path: string,
    private readonly fd: number,
    /** Block -> its record (the last one written). */
    readonly records: Map<number, LayerRecord>,
    private size: number,
  ) {}

  /** Appends waiting for the one running; the next round writes and syncs them together. */
  private readonly waiting: { entries: readonly LayerEntry[]; override: boolean; done: (err?: Error) => void }[] = [];
  private appending = false;

  /** Opens (or creates, durably) the layer and reads its records; a torn tail is cut off. */
  static async open(file: string): Promise<SnapshotLayer> {
    let fd: number;
    try {
      fd = await openFile(file, 'r+', 'open snapshot layer');
    } catch (err) {
      if ((err as BasaltError).details?.['errno'] !== 'ENOENT') throw err;
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      fd = await openFile(file, 'w+', 'create snapshot layer');
      await syncDirectory(path.dirname(file));
    }
    const { size } = await fs.promises.stat(file);
    const records = new Map<number, LayerRecord>();
    const end = await scan(fd, size, records);
    if (end < size) {
      await fs.promises.truncate(file, end).catch((err: NodeJS.ErrnoException) => {
        throw ioError(err, 'cut the torn tail of a snapshot layer');
      });
    }
    return new SnapshotLayer(file, fd, records, end);
  }

  get bytes(): number {
    return this.size;
  }

  /**
   * Appends records and syncs them; blocks already held are skipped unless `override`. Appends
   * run one round at a time, in call order (concurrent mutations of different blocks append to
   * one layer); the calls that wait during a round share the next one's write and fdatasync.
   */
  append(entries: readonly LayerEntry[], override = false): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ entries, override, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (!this.appending) void this.rounds();
    });
  }

  private async rounds(): Promise<void> {
    this.appending = true;
    while (this.waiting.length > 0) {
      const round = this.waiting.splice(0);
      const taken = new Set<number>();
      const entries = round.flatMap((w) => w.entries.filter((e) => {
        const keep = w.override || (!this.records.has(e.block) && !taken.has(e.block));
        if (keep) taken.add(e.block);
        return keep;
      }));
      try {
        await this.appendNow(entries);
        for (const w of round) w.done();
      } catch (err) {
        for (const w of round) w.done(err as Error);
      }
    }
    this.appending = false;
  }

  private async appendNow(fresh: readonly LayerEntry[]): Promise<void> {
    if (fresh.length === 0) return;
    const parts: Buffer[] = [];
    const added: LayerRecord[] = [];
    let at = this.size;
    for (const e of fresh) {
      const header = Buffer.alloc(headerBytes);
      header.writeUInt32BE(magic, 0);
      header.writeUInt32BE(e.block, 4);
      header.writeUInt32BE(e.crc, 8);
      header.writeUInt32BE(e.epoch, 12);
      header.writeUInt32BE(e.seq, 16);
      header.writeUInt32BE(crc32c(header.subarray(0, 20)), 20);
      parts.push(header);
      const hasData = e.crc !== zeroBlockCrc;
      if (hasData) parts.push(e.data);
      added.push({ block: e.block, crc: e.crc, epoch: e.epoch, seq: e.seq, dataAt: hasData ? at + headerBytes : undefined });
      at += headerBytes + (hasData ? blockBytes : 0);
    }
    await writeFully(this.fd, Buffer.concat(parts), this.size, 'append to a snapshot layer');
    await fdatasync(this.fd, 'sync a snapshot layer');
    this.size = at;
    for (const r of added) this.records.set(r.block, r);
  }

  /** A record's data, checked against its CRC (BASALT_CHECKSUM). */
  async data(r: LayerRecord): Promise<Buffer> {
    if (r.dataAt === undefined) return Buffer.alloc(blockBytes);
    const data = await readFully(this.fd, blockBytes, r.dataAt, 'read a snapshot layer');
    if (crc32c(data) !== r.crc) throw new BasaltError(ErrorCode.Checksum, `checksum mismatch in snapshot layer ${this.path} block ${r.block}`, { block: r.block });
    return data;
  }

  close(): Promise<void> {
    return closeFile(this.fd);
  }

  /** Closes and deletes the layer file, durably. */
  async remove(): Promise<void> {
    await this.close();
    await fs.promises.rm(this.path, { force: true });
    await syncDirectory(path.dirname(this.path));
  }
}

/**
 * Reads records from the start; returns where the last whole record ends. A header that fails
 * its checks with a whole record after it is damage inside the file, not a torn tail: the scan
 * goes on at the next valid header (resync), so one damaged header loses its own record and not
 * every record after it (the bytes stay; appends go after the end). After a resync a record
 * counts only if its data checks too: pages of an append cut by a power loss may reach the disk
 * out of order, and a header whose data did not arrive must not stop copy-on-write of its block.
 */
async function scan(fd: number, size: number, records: Map<number, LayerRecord>): Promise<number> {
  let pos = 0;
  let buf: Buffer = Buffer.alloc(0);
  let bufAt = 0;
  const need = async (n: number): Promise<Buffer | undefined> => {
    if (pos + n > size) return undefined;
    if (pos < bufAt || pos + n > bufAt + buf.length) {
      bufAt = pos;
      buf = await readFully(fd, Math.min(scanBytes, size - pos), pos, 'scan a snapshot layer');
    }
    return buf.subarray(pos - bufAt, pos - bufAt + n);
  };
  /** Past a damaged header: records whose data fails its CRC are left out (a torn append's). */
  let resynced = false;
  for (;;) {
    const h = await need(headerBytes);
    if (h === undefined) return pos;
    if (!validHeader(h)) {
      const next = await nextValidHeader(fd, pos + 1, size);
      if (next === undefined) return pos;
      pos = next;
      resynced = true;
      continue;
    }
    const crc = h.readUInt32BE(8);
    const hasData = crc !== zeroBlockCrc;
    if (pos + headerBytes + (hasData ? blockBytes : 0) > size) return pos;
    const block = h.readUInt32BE(4);
    const record = { block, crc, epoch: h.readUInt32BE(12), seq: h.readUInt32BE(16), dataAt: hasData ? pos + headerBytes : undefined };
    const trusted = !resynced || !hasData || crc32c((await need(headerBytes + blockBytes))!.subarray(headerBytes)) === crc;
    if (trusted) records.set(block, record);
    pos += headerBytes + (hasData ? blockBytes : 0);
  }
}

function validHeader(h: Buffer): boolean {
  return h.readUInt32BE(0) === magic && crc32c(h.subarray(0, 20)) === h.readUInt32BE(20);
}

/** Where the first header that passes its checks starts at or after `from`, if one does. */
async function nextValidHeader(fd: number, from: number, size: number): Promise<number | undefined> {
  const pattern = Buffer.alloc(4);
  pattern.writeUInt32BE(magic, 0);
  for (let at = from; at + headerBytes <= size; at += scanBytes - headerBytes) {
    const window = await readFully(fd, Math.min(scanBytes, size - at), at, 'scan a snapshot layer');
    for (let i = window.indexOf(pattern); i >= 0 && i + headerBytes <= window.length; i = window.indexOf(pattern, i + 1)) {
      if (validHeader(window.subarray(i, i + headerBytes))) return at + i;
    }
  }
  return undefined;
}
