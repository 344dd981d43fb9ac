import { crc32c } from '@node-rs/crc32';
import { assert, BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { copyApplies, forEachPiece, pieceCrcs, unknownAge, type BlockStamps, type Stamp, type StampsOutcome } from '@basalt/wire';
import { extentKey, type ReplicaMeta } from '../replica/replica-meta.js';
import { changedBetween, changedSince, diffLayers, heldBy, layersFrom, newestMark, snapshotNotFound, withMark, withoutMark, type SnapshotMark } from '../replica/snapshot-chain.js';
import type { SeqReservation } from './extent-index.js';
import type { CopySource, ExtentStore, ReadOutcome, SnapshotRecordCopy } from './extent-store.js';
import { RangeLock } from './range-lock.js';
import { StampClock } from './stamp-clock.js';

/**
 * An extent store in memory with the semantics of FileExtentStore (extent-store.ts; both pass
 * extent-store.conformance.ts), for the whole-cluster simulation. Its disk is a MemoryDisk,
 * which outlives the store: open another MemoryExtentStore over it to restart.
 *
 * Fault model (what the simulation can do to a disk, as a real one can):
 * - `crash('process')`: the process dies; the page cache survives, nothing written is lost.
 * - `crash('power', keep)`: every block written since its last sync loses each of its three
 *   parts (data, checksum slots, stamp) independently unless keep(block part) says it reached
 *   the disk (default: all lost), like a kernel writing back pages in any order. The next open
 *   finds the unclean close in another boot and marks replicas suspect.
 * - `flipBit(...)`: a bit of stored data changes (silent corruption); reads and verifies find it.
 * - `full = true`: every mutation that needs a new block fails with BASALT_NO_SPACE, touching
 *   nothing (trims and writes over blocks already held still work).
 * Index records (metadata, generations, seq reservations) are synced when written, as LevelDB
 * puts with sync are.
 */
const blockBytes = limits.checksumBlockBytes;
const zeroBlock = Buffer.alloc(blockBytes);
const zeroCrc = crc32c(zeroBlock);

/** One block as stored: data (undefined: zeros), checksum slots [current, previous], stamp. */
interface Block {
  data: Buffer | undefined;
  crcCur: number;
  crcPrev: number;
  epoch: number;
  seq: number;
}

export type BlockPart = 'data' | 'checksum' | 'stamp';

interface DiskExtent {
  /** What reads see (the page cache). */
  readonly cache: Map<number, Block>;
  /** What is on the platter: blocks as of their last sync. */
  readonly durable: Map<number, Block>;
  /** Blocks written since their last sync. */
  readonly dirty: Set<number>;
}

export class MemoryDisk {
  readonly extents = new Map<string, DiskExtent>();
  metas = new Map<string, ReplicaMeta>();
  generations = new Map<number, number>();
  seqs = new Map<string, SeqReservation>();
  /** Snapshot layers per extent: snapshot id -> block -> the block as preserved (synced when written, as the file store's appends are). */
  layers = new Map<string, Map<number, Map<number, Block>>>();
  boot = 1;
  record: { boot: number; clean: boolean } | undefined;
  /** When set, mutations needing a new block fail with BASALT_NO_SPACE. */
  full = false;
  /** The running store, if any (a crash makes it refuse everything). */
  running: MemoryExtentStore | undefined;

  /** Ends the running store without a clean close; see the class comment for the two kinds. */
  crash(kind: 'process' | 'power', keep: (part: BlockPart, key: string, block: number) => boolean = () => false): void {
    this.running?.die();
    this.running = undefined;
    if (kind === 'process') return;
    for (const [key, ext] of this.extents) {
      for (const b of ext.dirty) {
        const cached = ext.cache.get(b) ?? emptyBlock();
        const old = ext.durable.get(b) ?? emptyBlock();
        const now: Block = {
          data: keep('data', key, b) ? cached.data : old.data,
          crcCur: keep('checksum', key, b) ? cached.crcCur : old.crcCur,
          crcPrev: keep('checksum', key, b) ? cached.crcPrev : old.crcPrev,
          epoch: keep('stamp', key, b) ? cached.epoch : old.epoch,
          seq: keep('stamp', key, b) ? cached.seq : old.seq,
        };
        ext.durable.set(b, now);
        ext.cache.set(b, { ...now });
      }
      ext.dirty.clear();
    }
    this.boot++;
  }

  /** Flips one bit of the stored data at byte `offset` of the extent, on the platter and in the cache. */
  flipBit(volumeId: number, index: number, offset: number, bit = 0): void {
    const ext = this.extents.get(extentKey(volumeId, index));
    assert(ext !== undefined, 'flip a bit of an extent that has data');
    const b = Math.floor(offset / blockBytes);
    for (const map of [ext.cache, ext.durable]) {
      const block = map.get(b);
      if (block === undefined) continue;
      const data = Buffer.from(block.data ?? zeroBlock);
      data[offset % blockBytes]! ^= 1 << bit;
      block.data = data;
    }
  }
}

function emptyBlock(): Block {
  return { data: undefined, crcCur: zeroCrc, crcPrev: zeroCrc, epoch: 0, seq: 0 };
}

interface Held {
  meta: ReplicaMeta;
  readonly lock: RangeLock;
  clock?: StampClock;
  removed?: boolean;
}

export class MemoryExtentStore implements ExtentStore {
  private readonly held = new Map<string, Held>();
  private failure: BasaltError | undefined;
  private dead = false;
  checksumErrors = 0;
  readonly syncStats = { rounds: 0, requests: 0 };

  private constructor(private readonly disk: MemoryDisk) {
    for (const [key, meta] of disk.metas) this.held.set(key, { meta, lock: new RangeLock() });
  }

  /** Opens the store over a disk (a restart when the disk held one before). */
  static open(disk: MemoryDisk): MemoryExtentStore {
    assert(disk.running === undefined, 'one store at a time on a disk');
    const lostPower = disk.metas.size > 0 && (disk.record === undefined || (!disk.record.clean && disk.record.boot !== disk.boot));
    if (lostPower) {
      for (const [key, m] of disk.metas) disk.metas.set(key, { ...m, suspect: true });
    }
    disk.record = { boot: disk.boot, clean: false };
    const store = new MemoryExtentStore(disk);
    disk.running = store;
    return store;
  }

  get failed(): BasaltError | undefined {
    return this.failure;
  }

  /** Called by MemoryDisk.crash: every later call fails. */
  die(): void {
    this.dead = true;
  }

  get(volumeId: number, index: number): ReplicaMeta | undefined {
    return this.held.get(extentKey(volumeId, index))?.meta;
  }

  list(): ReplicaMeta[] {
    return [...this.held.values()].map((h) => h.meta);
  }

  setMeta(meta: ReplicaMeta): Promise<void> {
    const key = extentKey(meta.volumeId, meta.index);
    const h = this.held.get(key);
    if (h === undefined) this.held.set(key, { meta, lock: new RangeLock() });
    else {
      assert(meta.epoch >= h.meta.epoch, 'an extent epoch never decreases');
      h.meta = meta;
    }
    this.disk.metas.set(key, meta);
    return this.alive();
  }

  bumpVersion(volumeId: number, index: number): number {
    const h = this.mustHold(volumeId, index);
    h.meta = { ...h.meta, version: h.meta.version + 1 };
    return h.meta.version;
  }

  generation(volumeId: number): number {
    return this.disk.generations.get(volumeId) ?? 0;
  }

  raiseGeneration(volumeId: number, generation: number): Promise<void> | undefined {
    if (generation <= this.generation(volumeId)) return undefined;
    this.disk.generations.set(volumeId, generation);
    return this.alive();
  }

  nextStamp(volumeId: number, index: number): Stamp {
    const h = this.mustHold(volumeId, index);
    const key = extentKey(volumeId, index);
    h.clock ??= new StampClock(this.disk.seqs.get(key));
    const { stamp, reserve } = h.clock.take(volumeId, index, h.meta.epoch);
    if (reserve !== undefined) this.disk.seqs.set(key, reserve);
    return stamp;
  }

  read(volumeId: number, index: number, offset: number, length: number): Promise<ReadOutcome> {
    const h = this.mustHold(volumeId, index);
    const [a, b] = aligned(offset, length);
    return this.locked(h, a, b, false, () => {
      const buf = Buffer.alloc(b - a);
      const crcs = new Uint32Array((b - a) / blockBytes);
      for (let i = 0; i < crcs.length; i++) {
        const block = this.verifiedBlock(h, a / blockBytes + i);
        block.copy(buf, i * blockBytes);
        crcs[i] = crc32c(block);
      }
      const data = buf.subarray(offset - a, offset - a + length);
      const pieces = new Uint32Array(crcs.length);
      forEachPiece(offset, length, (s, e, i) => {
        pieces[i] = e - s === blockBytes ? crcs[i]! : crc32c(data.subarray(s, e));
      });
      return { data, crcs: pieces };
    });
  }

  write(volumeId: number, index: number, offset: number, data: Buffer, _crcs: Uint32Array, stamp: Stamp): Promise<void> {
    const h = this.mustHold(volumeId, index);
    const [a, b] = aligned(offset, data.length);
    return this.locked(h, a, b, true, () => {
      this.admit(h, a, b);
      for (let blk = a / blockBytes; blk < b / blockBytes; blk++) {
        const s = Math.max(offset, blk * blockBytes);
        const e = Math.min(offset + data.length, (blk + 1) * blockBytes);
        const merged = e - s === blockBytes ? Buffer.alloc(blockBytes) : Buffer.from(this.verifiedBlock(h, blk));
        data.copy(merged, s - blk * blockBytes, s - offset, e - offset);
        this.preserve(h, blk);
        this.put(h, blk, merged, stamp.epoch, stamp.seq);
      }
    });
  }

  zero(volumeId: number, index: number, offset: number, length: number, stamp: Stamp): Promise<void> {
    const h = this.mustHold(volumeId, index);
    const [a, b] = aligned(offset, length);
    return this.locked(h, a, b, true, () => {
      const ext = this.disk.extents.get(extentKey(volumeId, index));
      if (ext === undefined) return; // never written: already zeros
      for (let blk = a / blockBytes; blk < b / blockBytes; blk++) {
        const s = Math.max(offset, blk * blockBytes);
        const e = Math.min(offset + length, (blk + 1) * blockBytes);
        const whole = e - s === blockBytes;
        const merged = whole ? undefined : Buffer.from(this.verifiedBlock(h, blk)).fill(0, s - blk * blockBytes, e - blk * blockBytes);
        this.preserve(h, blk);
        this.put(h, blk, merged, stamp.epoch, stamp.seq);
      }
    });
  }

  stamps(volumeId: number, index: number, offset: number, length: number, verify: boolean): Promise<StampsOutcome> {
    const h = this.mustHold(volumeId, index);
    assertWholeBlocks(offset, length);
    if (h.meta.suspect === true) this.settle(h);
    return this.locked(h, offset, offset + length, false, () => {
      const n = length / blockBytes;
      const out = { epochs: new Uint32Array(n), seqs: new Uint32Array(n), crcs: new Uint32Array(n), bad: [] as number[] };
      const ext = this.extentOf(h);
      for (let i = 0; i < n; i++) {
        const blk = offset / blockBytes + i;
        const block = ext?.cache.get(blk) ?? emptyBlock();
        out.epochs[i] = block.epoch;
        out.seqs[i] = block.seq;
        out.crcs[i] = block.crcCur;
        if (!verify) continue;
        const actual = crc32c(block.data ?? zeroBlock);
        if (actual === block.crcCur || actual === block.crcPrev) out.crcs[i] = actual;
        else out.bad.push(blk);
      }
      this.checksumErrors += out.bad.length;
      return out;
    });
  }

  readForCopy(volumeId: number, index: number, offset: number, length: number): Promise<CopySource> {
    const h = this.mustHold(volumeId, index);
    assertWholeBlocks(offset, length);
    return this.locked(h, offset, offset + length, false, () => {
      const n = length / blockBytes;
      const out = { data: Buffer.alloc(length), crcs: new Uint32Array(n), epochs: new Uint32Array(n), seqs: new Uint32Array(n) };
      const ext = this.extentOf(h);
      for (let i = 0; i < n; i++) {
        const blk = offset / blockBytes + i;
        this.verifiedBlock(h, blk).copy(out.data, i * blockBytes);
        const block = ext?.cache.get(blk) ?? emptyBlock();
        out.crcs[i] = crc32c(out.data.subarray(i * blockBytes, (i + 1) * blockBytes));
        out.epochs[i] = block.epoch;
        out.seqs[i] = block.seq;
      }
      return out;
    });
  }

  copyBlocks(volumeId: number, index: number, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps, floorEpoch: number): Promise<number> {
    const h = this.mustHold(volumeId, index);
    assertWholeBlocks(offset, data.length);
    assert(crcs.length === data.length / blockBytes && stamps.epochs.length === crcs.length && stamps.seqs.length === crcs.length, 'one crc and one stamp per copied block');
    return this.locked(h, offset, offset + data.length, true, () => {
      this.admit(h, offset, offset + data.length);
      let applied = 0;
      for (let i = 0; i < crcs.length; i++) {
        const blk = offset / blockBytes + i;
        const local = this.extentOf(h)?.cache.get(blk) ?? emptyBlock();
        if (!copyApplies(local.epoch, local.seq, stamps.epochs[i]!, stamps.seqs[i]!, floorEpoch)) continue;
        this.put(h, blk, Buffer.from(data.subarray(i * blockBytes, (i + 1) * blockBytes)), stamps.epochs[i]!, stamps.seqs[i]!);
        applied++;
      }
      return applied;
    });
  }

  repairBlocks(volumeId: number, index: number, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps): Promise<void> {
    const h = this.mustHold(volumeId, index);
    assertWholeBlocks(offset, data.length);
    assert(crcs.length === data.length / blockBytes && stamps.epochs.length === crcs.length && stamps.seqs.length === crcs.length, 'one crc and one stamp per repaired block');
    for (let i = 0; i < crcs.length; i++) {
      if (crc32c(data.subarray(i * blockBytes, (i + 1) * blockBytes)) !== crcs[i]) {
        const block = offset / blockBytes + i;
        return Promise.reject(new BasaltError(ErrorCode.Checksum, `repair data for extent ${volumeId}/${index} block ${block} does not match its checksum; nothing was written`, { volumeId, index, block }));
      }
    }
    return this.locked(h, offset, offset + data.length, true, () => {
      this.admit(h, offset, offset + data.length);
      for (let i = 0; i < crcs.length; i++) this.put(h, offset / blockBytes + i, Buffer.from(data.subarray(i * blockBytes, (i + 1) * blockBytes)), stamps.epochs[i]!, stamps.seqs[i]!);
    });
  }

  takeSnapshot(volumeId: number, index: number, id: number, stamp: Stamp): Promise<void> {
    const h = this.mustHold(volumeId, index);
    return this.locked(h, 0, h.meta.extentSizeBytes, true, () => {
      h.meta = { ...h.meta, snapshots: withMark(h.meta.snapshots, { id, epoch: stamp.epoch, seq: stamp.seq }) };
      this.disk.metas.set(extentKey(volumeId, index), h.meta);
    });
  }

  deleteSnapshot(volumeId: number, index: number, id: number): Promise<void> {
    const h = this.mustHold(volumeId, index);
    return this.locked(h, 0, h.meta.extentSizeBytes, true, () => {
      const next = withoutMark(h.meta.snapshots, id);
      if (next === undefined) throw snapshotNotFound(volumeId, index, id);
      const key = extentKey(volumeId, index);
      const layers = this.disk.layers.get(key);
      const gone = layers?.get(id);
      if (gone !== undefined && next.previous !== undefined) {
        const prev = layerOf(this.disk, key, next.previous.id);
        for (const [blk, block] of gone) if (heldBy(next.previous, block.epoch, block.seq) && !prev.has(blk)) prev.set(blk, block);
      }
      layers?.delete(id);
      const { snapshots: _old, ...rest } = h.meta;
      h.meta = next.marks.length === 0 ? rest : { ...rest, snapshots: next.marks };
      this.disk.metas.set(key, h.meta);
    });
  }

  readSnapshot(volumeId: number, index: number, id: number, offset: number, length: number): Promise<ReadOutcome> {
    const h = this.mustHold(volumeId, index);
    const [a, b] = aligned(offset, length);
    return this.locked(h, a, b, false, () => {
      const marks = layersFrom(h.meta.snapshots, id);
      if (marks === undefined) throw snapshotNotFound(volumeId, index, id);
      const buf = Buffer.alloc(b - a);
      for (let blk = a / blockBytes; blk < b / blockBytes; blk++) {
        const found = this.layered(h, marks, blk);
        const data = found === undefined ? this.verifiedBlock(h, blk) : found.data ?? zeroBlock;
        if (found !== undefined && crc32c(data) !== found.crcCur) throw new BasaltError(ErrorCode.Checksum, `checksum mismatch in snapshot ${id} of extent ${volumeId}/${index} block ${blk}`, { volumeId, index, block: blk });
        data.copy(buf, blk * blockBytes - a);
      }
      const data = buf.subarray(offset - a, offset - a + length);
      return { data, crcs: pieceCrcs(offset, data) };
    });
  }

  changedBlocks(volumeId: number, index: number, from: number | undefined, to: number | undefined, offset: number, length: number): Promise<number[]> {
    const h = this.mustHold(volumeId, index);
    assertWholeBlocks(offset, length);
    return this.locked(h, offset, offset + length, false, () => {
      const { fromMark, marks, between } = diffLayers(h.meta.snapshots, volumeId, index, from, to);
      const out: number[] = [];
      for (let blk = offset / blockBytes; blk < (offset + length) / blockBytes; blk++) {
        const block = this.layered(h, marks, blk) ?? this.extentOf(h)?.cache.get(blk) ?? emptyBlock();
        const before = this.layered(h, between, blk);
        if (fromMark === undefined ? changedSince(undefined, block.epoch, block.seq) : changedBetween(fromMark, block.epoch, block.seq, block.crcCur, before === undefined ? undefined : { crc: before.crcCur })) out.push(blk);
      }
      return out;
    });
  }

  snapshotRecords(volumeId: number, index: number, id: number, fromBlock: number, max: number): Promise<{ records: SnapshotRecordCopy[]; next: number | undefined }> {
    const h = this.mustHold(volumeId, index);
    return this.locked(h, 0, h.meta.extentSizeBytes, false, () => {
      if (!h.meta.snapshots?.some((m) => m.id === id)) throw snapshotNotFound(volumeId, index, id);
      const layer = this.disk.layers.get(extentKey(volumeId, index))?.get(id) ?? new Map<number, Block>();
      const blocks = [...layer.keys()].filter((b) => b >= fromBlock).sort((x, y) => x - y);
      const records = blocks.slice(0, max).map((b) => {
        const r = layer.get(b)!;
        return { block: b, crc: r.crcCur, epoch: r.epoch, seq: r.seq, data: Buffer.from(r.data ?? zeroBlock) };
      });
      return { records, next: blocks.length > max ? blocks[max] : undefined };
    });
  }

  installSnapshotRecords(volumeId: number, index: number, id: number, records: readonly SnapshotRecordCopy[]): Promise<number> {
    const h = this.mustHold(volumeId, index);
    return this.locked(h, 0, h.meta.extentSizeBytes, true, () => {
      if (!h.meta.snapshots?.some((m) => m.id === id)) return 0;
      const layer = layerOf(this.disk, extentKey(volumeId, index), id);
      for (const r of records) layer.set(r.block, { data: Buffer.from(r.data), crcCur: r.crc, crcPrev: r.crc, epoch: r.epoch, seq: r.seq });
      return records.length;
    });
  }

  verifySnapshotLayer(volumeId: number, index: number, id: number): Promise<{ bad: Omit<SnapshotRecordCopy, 'data'>[]; bytes: number }> {
    const h = this.mustHold(volumeId, index);
    return this.locked(h, 0, h.meta.extentSizeBytes, false, () => {
      const layer = h.meta.snapshots?.some((m) => m.id === id) === true ? this.disk.layers.get(extentKey(volumeId, index))?.get(id) : undefined;
      const bad = [...(layer ?? [])].filter(([, r]) => crc32c(r.data ?? zeroBlock) !== r.crcCur).map(([b, r]) => ({ block: b, crc: r.crcCur, epoch: r.epoch, seq: r.seq }));
      this.checksumErrors += bad.length;
      return { bad, bytes: (layer?.size ?? 0) * blockBytes };
    });
  }

  sync(extent?: { readonly volumeId: number; readonly index: number }): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.syncStats.requests++;
    this.syncStats.rounds++;
    const named = extent === undefined ? undefined : this.disk.extents.get(extentKey(extent.volumeId, extent.index));
    for (const ext of extent === undefined ? this.disk.extents.values() : named === undefined ? [] : [named]) {
      for (const b of ext.dirty) ext.durable.set(b, { ...ext.cache.get(b)! });
      ext.dirty.clear();
    }
    return this.alive();
  }

  async removeVolume(volumeId: number): Promise<{ replicas: number; bytes: number }> {
    const victims = [...this.held.values()].filter((h) => h.meta.volumeId === volumeId);
    const locks = victims.map((h) => h.lock.acquire(0, Number.MAX_SAFE_INTEGER, true));
    let bytes = 0;
    for (const [i, h] of victims.entries()) {
      const release = await locks[i]!;
      h.removed = true;
      const key = extentKey(volumeId, h.meta.index);
      this.held.delete(key);
      bytes += (this.disk.extents.get(key)?.cache.size ?? 0) * blockBytes;
      this.disk.extents.delete(key);
      this.disk.metas.delete(key);
      this.disk.seqs.delete(key);
      this.disk.layers.delete(key);
      release();
    }
    this.disk.generations.delete(volumeId);
    return { replicas: victims.length, bytes };
  }

  async close(): Promise<void> {
    for (const h of this.held.values()) this.disk.metas.set(extentKey(h.meta.volumeId, h.meta.index), h.meta);
    const clean = this.failure === undefined && !this.dead;
    if (clean) await this.sync();
    if (clean) this.disk.record = { boot: this.disk.boot, clean: true };
    this.dead = true;
    if (this.disk.running === this) this.disk.running = undefined;
  }

  private alive(): Promise<void> {
    return this.dead ? Promise.reject(new BasaltError(ErrorCode.Closed, 'this store crashed')) : Promise.resolve();
  }

  private mustHold(volumeId: number, index: number): Held {
    const h = this.held.get(extentKey(volumeId, index));
    assert(h !== undefined, `extent ${volumeId}/${index} has no metadata; setMeta first`);
    return h;
  }

  private async locked<T>(h: Held, a: number, b: number, exclusive: boolean, body: () => T): Promise<T> {
    const release = await h.lock.acquire(a, b, exclusive);
    try {
      if (this.dead) throw new BasaltError(ErrorCode.Closed, 'this store crashed');
      if (this.failure !== undefined) throw this.failure;
      if (h.removed === true) throw new BasaltError(ErrorCode.StaleEpoch, `extent ${h.meta.volumeId}/${h.meta.index} was removed from this server: its volume was deleted`, { volumeId: h.meta.volumeId, index: h.meta.index });
      return body();
    } finally {
      release();
    }
  }

  private extentOf(h: Held): DiskExtent | undefined {
    return this.disk.extents.get(extentKey(h.meta.volumeId, h.meta.index));
  }

  /** BASALT_NO_SPACE, touching nothing, when the disk is full and [a, b) needs a block not yet held. */
  private admit(h: Held, a: number, b: number): void {
    if (!this.disk.full) return;
    const ext = this.extentOf(h);
    for (let blk = a / blockBytes; blk < b / blockBytes; blk++) {
      if (ext?.cache.has(blk) !== true) throw new BasaltError(ErrorCode.NoSpace, "no space left on the chunk server's disk (simulated)");
    }
  }

  /** A block's data, verified against its checksum slots (BASALT_CHECKSUM, counted). */
  private verifiedBlock(h: Held, blk: number): Buffer {
    const block = this.extentOf(h)?.cache.get(blk);
    if (block === undefined) return zeroBlock;
    const data = block.data ?? zeroBlock;
    const crc = crc32c(data);
    if (crc !== block.crcCur && crc !== block.crcPrev) {
      this.checksumErrors++;
      throw new BasaltError(ErrorCode.Checksum, `checksum mismatch in extent ${h.meta.volumeId}/${h.meta.index} block ${blk} on this chunk server`, { volumeId: h.meta.volumeId, index: h.meta.index, block: blk });
    }
    return data;
  }

  /** Copy-on-write: keeps the block in the newest snapshot's layer when that snapshot holds it. */
  private preserve(h: Held, blk: number): void {
    const newest = newestMark(h.meta.snapshots);
    if (newest === undefined) return;
    const block = this.extentOf(h)?.cache.get(blk) ?? emptyBlock();
    if (!heldBy(newest, block.epoch, block.seq)) return;
    const layer = layerOf(this.disk, extentKey(h.meta.volumeId, h.meta.index), newest.id);
    if (!layer.has(blk)) layer.set(blk, { ...block });
  }

  /** The first record of the block in the layers of `marks`, if any. */
  private layered(h: Held, marks: readonly SnapshotMark[], blk: number): Block | undefined {
    const layers = this.disk.layers.get(extentKey(h.meta.volumeId, h.meta.index));
    for (const m of marks) {
      const found = layers?.get(m.id)?.get(blk);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Stores one block as the file store does: checksum slots [new, old current], data, stamp. */
  private put(h: Held, blk: number, data: Buffer | undefined, epoch: number, seq: number): void {
    const key = extentKey(h.meta.volumeId, h.meta.index);
    let ext = this.disk.extents.get(key);
    if (ext === undefined) {
      ext = { cache: new Map(), durable: new Map(), dirty: new Set() };
      this.disk.extents.set(key, ext);
    }
    const old = ext.cache.get(blk) ?? emptyBlock();
    ext.cache.set(blk, { data, crcCur: crc32c(data ?? zeroBlock), crcPrev: old.crcCur, epoch, seq });
    ext.dirty.add(blk);
  }

  /** See FileExtentStore.settle: blocks whose data lost its write get both slots and stamp (0, 1). */
  private settle(h: Held): void {
    const ext = this.extentOf(h);
    for (const [blk, block] of ext?.cache ?? []) {
      const actual = crc32c(block.data ?? zeroBlock);
      if (actual === block.crcCur || actual !== block.crcPrev) continue;
      ext!.cache.set(blk, { data: block.data, crcCur: actual, crcPrev: actual, epoch: unknownAge.epoch, seq: unknownAge.seq });
      ext!.dirty.add(blk);
    }
    const { suspect: _cleared, ...rest } = h.meta;
    h.meta = rest;
    this.disk.metas.set(extentKey(h.meta.volumeId, h.meta.index), rest);
  }
}

function layerOf(disk: MemoryDisk, key: string, id: number): Map<number, Block> {
  let layers = disk.layers.get(key);
  if (layers === undefined) disk.layers.set(key, (layers = new Map<number, Map<number, Block>>()));
  let layer = layers.get(id);
  if (layer === undefined) layers.set(id, (layer = new Map<number, Block>()));
  return layer;
}

function aligned(offset: number, length: number): [number, number] {
  return [Math.floor(offset / blockBytes) * blockBytes, Math.ceil((offset + length) / blockBytes) * blockBytes];
}

function assertWholeBlocks(offset: number, length: number): void {
  assert(offset % blockBytes === 0 && length % blockBytes === 0, 'a range of whole blocks');
}
