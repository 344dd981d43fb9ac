import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { assert, BasaltError, ErrorCode, isBasaltError, limits } from '@basalt/stdx';
import { blockStamps, copyApplies, forEachPiece, pieceCrcs, unknownAge, type BlockStamps, type FramePool, type Stamp, type StampsOutcome } from '@basalt/wire';
import { extentKey, type ReplicaMeta } from '../replica/replica-meta.js';
import { changedBetween, changedSince, diffLayers, heldBy, layersFrom, newestMark, snapshotNotFound, withMark, withoutMark, type SnapshotMark } from '../replica/snapshot-chain.js';
import { currentBootId, lostPower, readBootRecord, writeBootRecord } from './boot-record.js';
import { ExtentIndex, type SeqReservation } from './extent-index.js';
import { blockMetaBytes, closeExtentFiles, createExtentFiles, openExtentFiles, removeVolumeDir, type ExtentFiles } from './extent-files.js';
import type { CopySource, ExtentStore, ReadOutcome, SnapshotRecordCopy } from './extent-store.js';
import { AlignedSlabs, DirectWriter } from './direct-writer.js';
import { fdatasync } from './fs-io.js';
import { InlineIo } from './inline-io.js';
import { RangeLock } from './range-lock.js';
import { blockBytes, blockCrcs, entryBytes, firstMismatch, settledEntries, shiftedEntries, sidecarBytes, zeroBlockCrc } from './sidecar.js';
import { SidecarCache } from './sidecar-cache.js';
import { layerPath, SnapshotLayer, type LayerEntry, type LayerRecord } from './snapshot-layer.js';
import { SpaceGuard } from './space-guard.js';
import { StampClock } from './stamp-clock.js';
import { readStampEntries, stampEntries, stampEntryBytes, uniformStampEntries } from './stamp-table.js';
import { SyncGroup } from './sync-group.js';

/**
 * The extent store of one chunk server on a local filesystem: extent replicas as sparse files,
 * each with its checksum sidecar and stamp table after the data (extent-files.ts, sidecar.ts,
 * stamp-table.ts), a LevelDB index (extent-index.ts) and a boot record (boot-record.ts).
 * Semantics in extent-store.ts; layout and crash-consistency argument in docs/data-path.md.
 *
 * Data written is in the page cache, or on the disk for a direct write, when a write resolves
 * (survives a process crash); sync() makes it durable (group commit). After a failed fdatasync the store refuses all further I/O:
 * the kernel may have dropped the dirty pages, so a later successful fdatasync would prove nothing.
 */
interface Held {
  meta: ReplicaMeta;
  readonly lock: RangeLock;
  files: Promise<ExtentFiles> | undefined;
  /** An attempt to open existing files, while one runs. */
  probe?: Promise<ExtentFiles | undefined> | undefined;
  /** Removed with its volume (removeVolume): operations still queued on it fail. */
  removed?: boolean;
  /** The primary's stamp counter (created on first use). */
  clock?: StampClock;
  /** A seq reservation being persisted: blocks are stamped only after it is durable. */
  reserving?: Promise<void> | undefined;
  /** A settle of a suspect replica, while one runs. */
  settling?: Promise<void> | undefined;
  /** Snapshot layers opened so far, by snapshot id. */
  layers?: Map<number, Promise<SnapshotLayer>>;
}

export interface ExtentStoreOptions {
  /** Free bytes kept back from extent data; default min(256 MiB, 1/32 of the filesystem). */
  readonly reserveBytes?: number;
  /** Memory for in-memory sidecar copies; default limits.chunkSidecarCacheBytesMax. */
  readonly sidecarCacheBytes?: number;
  /** Reads and writes up to this size may run on the event loop (inline-io.ts); default limits.chunkInlineIoBytesMax, 0 = never. */
  readonly inlineIoBytesMax?: number;
  /**
   * Recycled memory for large reads (limits.chunkPooledReadBytesMin and up): read()'s data is then
   * a view into pooled memory, which its caller may give back (FramePool.give) once nothing reads
   * it any more; data never given back is ordinary garbage. Default: fresh buffers.
   */
  readonly readPool?: FramePool;
  /**
   * 'members': a member's data writes (write() with `member`, copyBlocks) of at least
   * limits.chunkDirectWriteBytesMin bytes go past the page cache with O_DIRECT (direct-writer.ts),
   * which the primary's reads never need; 'off' (default): every write is buffered.
   */
  readonly directWrites?: 'members' | 'off';
  /** The smallest member data write that goes direct; default limits.chunkDirectWriteBytesMin. */
  readonly directWriteBytesMin?: number;
  /** Where the store reports that the filesystem refused O_DIRECT (direct writes are then off). */
  readonly log?: (line: string) => void;
}

export class FileExtentStore implements ExtentStore {
  private readonly held = new Map<string, Held>();
  private readonly generations: Map<number, number>;
  private readonly seqs: Map<string, SeqReservation>;
  private readonly syncGroup = new SyncGroup((fd) => fdatasync(fd, 'fdatasync extent'));
  private failure: BasaltError | undefined;
  private readonly space: SpaceGuard;
  private readonly sidecars: SidecarCache<Held>;
  private readonly io: InlineIo;
  private readonly readPool: FramePool | undefined;
  private readonly direct: DirectWriter | undefined;
  private readonly directWriteBytesMin: number;
  /** Checksum mismatches found on read or before a read-modify-write. */
  checksumErrors = 0;

  private constructor(
    readonly dir: string,
    private readonly index: ExtentIndex,
    loaded: { extents: ReplicaMeta[]; generations: Map<number, number>; seqs: Map<string, SeqReservation> },
    options: ExtentStoreOptions,
    private readonly bootId: string,
  ) {
    this.space = new SpaceGuard(dir, options.reserveBytes);
    this.sidecars = new SidecarCache(options.sidecarCacheBytes ?? limits.chunkSidecarCacheBytesMax, (h) => h.lock.size === 0);
    this.io = new InlineIo(options.inlineIoBytesMax ?? limits.chunkInlineIoBytesMax);
    this.readPool = options.readPool;
    this.directWriteBytesMin = options.directWriteBytesMin ?? limits.chunkDirectWriteBytesMin;
    this.direct = options.directWrites === 'members' ? new DirectWriter(new AlignedSlabs(), options.log ?? (() => undefined)) : undefined;
    for (const meta of loaded.extents) this.held.set(extentKey(meta.volumeId, meta.index), { meta, lock: new RangeLock(), files: undefined });
    this.generations = loaded.generations;
    this.seqs = loaded.seqs;
  }

  /**
   * Opens (or creates) the store in dir. After a power loss (boot-record.ts) every replica with
   * data is marked suspect, persisted before the new boot record says "running, unclean".
   */
  static async open(dir: string, options: ExtentStoreOptions = {}): Promise<FileExtentStore> {
    await fs.promises.mkdir(path.join(dir, 'extents'), { recursive: true });
    const index = await ExtentIndex.open(path.join(dir, 'index'));
    const loaded = await index.load();
    const bootId = currentBootId();
    if (loaded.extents.length > 0 && lostPower(readBootRecord(dir), bootId)) {
      loaded.extents = loaded.extents.map((m) => ({ ...m, suspect: true }));
      await index.putExtents(loaded.extents);
    }
    await writeBootRecord(dir, { bootId, clean: false });
    return new FileExtentStore(dir, index, loaded, options, bootId);
  }

  get(volumeId: number, index: number): ReplicaMeta | undefined {
    return this.held.get(extentKey(volumeId, index))?.meta;
  }

  list(): ReplicaMeta[] {
    return [...this.held.values()].map((h) => h.meta);
  }

  get syncStats(): { rounds: number; requests: number } {
    return { rounds: this.syncGroup.rounds, requests: this.syncGroup.requests };
  }

  /**
   * Reads and writes of extent files run on the event loop, in the thread pool (buffered) and with
   * O_DIRECT (in the pool too; direct-writer.ts); inline reads that found the disk (inline-io.ts);
   * large member writes written buffered since every direct slab was in use; whether the
   * filesystem refused O_DIRECT.
   */
  get ioStats(): { inline: number; pool: number; direct: number; directNoSlab: number; directUnsupported: boolean; slowInlineReads: number } {
    return { ...this.io.ops, direct: this.direct?.ops.direct ?? 0, directNoSlab: this.direct?.ops.noSlab ?? 0, directUnsupported: this.direct?.unsupported !== undefined, slowInlineReads: this.io.slowReads };
  }

  get failed(): BasaltError | undefined {
    return this.failure;
  }

  generation(volumeId: number): number {
    return this.generations.get(volumeId) ?? 0;
  }

  /**
   * Raises the volume's generation now (in memory); the promise resolves once it is persisted.
   * Undefined when `generation` is not above the one held: nothing to persist, nothing to wait for.
   */
  raiseGeneration(volumeId: number, generation: number): Promise<void> | undefined {
    if (generation <= this.generation(volumeId)) return undefined;
    this.generations.set(volumeId, generation);
    return this.index.putGeneration(volumeId, generation);
  }

  /** Replaces an extent's metadata now (in memory) and resolves once it is persisted. */
  setMeta(meta: ReplicaMeta): Promise<void> {
    const key = extentKey(meta.volumeId, meta.index);
    const h = this.held.get(key);
    if (h === undefined) this.held.set(key, { meta, lock: new RangeLock(), files: undefined });
    else {
      assert(meta.epoch >= h.meta.epoch, 'an extent epoch never decreases');
      h.meta = meta;
    }
    return this.index.putExtents([meta]);
  }

  /** Counts one mutation of the extent; returns the new version. Call in apply order. */
  bumpVersion(volumeId: number, index: number): number {
    const h = this.mustHold(volumeId, index);
    const m = h.meta; // a literal, not a spread: this runs on every write
    h.meta = { volumeId: m.volumeId, index: m.index, extentSizeBytes: m.extentSizeBytes, epoch: m.epoch, replicas: m.replicas, version: m.version + 1, state: m.state, suspect: m.suspect, snapshots: m.snapshots };
    return h.meta.version;
  }

  nextStamp(volumeId: number, index: number): Stamp {
    const h = this.mustHold(volumeId, index);
    h.clock ??= new StampClock(this.seqs.get(extentKey(volumeId, index)));
    const { stamp, reserve } = h.clock.take(volumeId, index, h.meta.epoch);
    if (reserve !== undefined) {
      const before = h.reserving ?? Promise.resolve();
      const p = before.then(() => this.index.putSeqReservation(volumeId, index, reserve));
      h.reserving = p;
      p.then(
        () => {
          if (h.reserving === p) h.reserving = undefined;
        },
        () => undefined,
      );
    }
    return stamp;
  }

  /** Reads and verifies [offset, offset+length); BASALT_CHECKSUM on a corrupt block. */
  read(volumeId: number, index: number, offset: number, length: number): Promise<ReadOutcome> {
    const h = this.mustHold(volumeId, index);
    const [a, b] = aligned(offset, length);
    return this.locked(h, a, b, false, async () => {
      const files = await this.filesOf(h, false);
      if (files === undefined) {
        const data = Buffer.alloc(length);
        return { data, crcs: pieceCrcs(offset, data) };
      }
      const into = b - a >= limits.chunkPooledReadBytesMin ? this.readPool?.take(b - a) : undefined;
      const [buf, sums] = await Promise.all([this.io.read(files.fd, b - a, a, 'read extent data', into), this.sums(h, files)]);
      const crcs = this.verified(h, buf, entriesOf(sums, a, b), a);
      return { data: buf.subarray(offset - a, offset - a + length), crcs: pieceCrcsFrom(buf, offset - a, length, crcs) };
    });
  }

  /** Writes data whose piece checksums the caller verified; read-modify-write for partial blocks. */
  write(volumeId: number, index: number, offset: number, data: Buffer, crcs: Uint32Array, stamp: Stamp, member = false): Promise<void> {
    const h = this.mustHold(volumeId, index);
    const refusal = this.admitSpace(h, data.length);
    if (refusal !== undefined) return Promise.reject(refusal);
    const [a, b] = aligned(offset, data.length);
    return this.locked(h, a, b, true, async () => {
      const files = await this.filesOf(h, true);
      if (h.reserving !== undefined) await h.reserving;
      await this.preserve(h, files!, a, b);
      await this.writeBlocks(h, files!, offset, data, crcs, uniformStampEntries((b - a) / blockBytes, stamp), member);
    });
  }

  /** Makes [offset, offset+length) read as zeros, punching holes for long aligned runs; stamps its blocks. */
  zero(volumeId: number, index: number, offset: number, length: number, stamp: Stamp): Promise<void> {
    const h = this.mustHold(volumeId, index);
    const [a, b] = aligned(offset, length);
    return this.locked(h, a, b, true, async () => {
      const files = await this.filesOf(h, false);
      if (files === undefined) return; // never written: already zeros, every stamp (0, 0), which no copy source is older than
      if (h.reserving !== undefined) await h.reserving;
      await this.preserve(h, files, a, b);
      const innerA = Math.ceil(offset / blockBytes) * blockBytes;
      const innerB = Math.max(innerA, Math.floor((offset + length) / blockBytes) * blockBytes);
      for (const [s, e] of [[offset, Math.min(innerA, offset + length)], [Math.max(innerB, offset), offset + length]] as const) {
        if (e > s) await this.writeBlocks(h, files, s, Buffer.alloc(e - s), pieceCrcs(s, Buffer.alloc(e - s)), uniformStampEntries(1, stamp));
      }
      if (innerB > innerA) await this.zeroBlocks(h, files, innerA, innerB, stamp);
    });
  }

  stamps(volumeId: number, index: number, offset: number, length: number, verify: boolean): Promise<StampsOutcome> {
    const h = this.mustHold(volumeId, index);
    assertWholeBlocks(offset, length);
    const settled = h.meta.suspect === true ? this.settle(h) : undefined;
    const lock = h.lock.acquire(offset, offset + length, false);
    return this.lockedAfter(h, lock, settled, async () => {
      const blocks = length / blockBytes;
      const out = { ...blockStamps(blocks), crcs: new Uint32Array(blocks), bad: [] as number[] };
      const files = await this.filesOf(h, false);
      if (files === undefined) {
        out.crcs.fill(zeroBlockCrc);
        return out;
      }
      const meta = await this.sums(h, files);
      const first = offset / blockBytes;
      readStampEntries(stampTableOf(h, meta), first, blocks, out);
      for (let i = 0; i < blocks; i++) out.crcs[i] = (meta.readUInt32BE((first + i) * entryBytes) ^ zeroBlockCrc) >>> 0;
      if (!verify) return out;
      for (let pos = offset; pos < offset + length; pos += limits.chunkVerifyReadBytes) {
        const n = Math.min(limits.chunkVerifyReadBytes, offset + length - pos);
        const actual = blockCrcs(await this.io.read(files.fd, n, pos, 'verify extent data'));
        for (let k = 0; k < actual.length; k++) {
          const block = pos / blockBytes + k;
          if (matchesEntry(actual[k]!, meta, block)) out.crcs[block - first] = actual[k]!;
          else out.bad.push(block);
        }
      }
      this.checksumErrors += out.bad.length;
      return out;
    });
  }

  readForCopy(volumeId: number, index: number, offset: number, length: number): Promise<CopySource> {
    const h = this.mustHold(volumeId, index);
    assertWholeBlocks(offset, length);
    return this.locked(h, offset, offset + length, false, async () => {
      const blocks = length / blockBytes;
      const stamps = blockStamps(blocks);
      const files = await this.filesOf(h, false);
      if (files === undefined) return { data: Buffer.alloc(length), crcs: new Uint32Array(blocks).fill(zeroBlockCrc), epochs: stamps.epochs, seqs: stamps.seqs };
      const [data, meta] = await Promise.all([this.io.read(files.fd, length, offset, 'read extent data'), this.sums(h, files)]);
      const crcs = this.verified(h, data, entriesOf(meta, offset, offset + length), offset);
      readStampEntries(stampTableOf(h, meta), offset / blockBytes, blocks, stamps);
      return { data, crcs, epochs: stamps.epochs, seqs: stamps.seqs };
    });
  }

  copyBlocks(volumeId: number, index: number, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps, floorEpoch: number): Promise<number> {
    const h = this.mustHold(volumeId, index);
    assertWholeBlocks(offset, data.length);
    assert(crcs.length === data.length / blockBytes && stamps.epochs.length === crcs.length && stamps.seqs.length === crcs.length, 'one crc and one stamp per copied block');
    const refusal = this.admitSpace(h, data.length);
    if (refusal !== undefined) return Promise.reject(refusal);
    return this.locked(h, offset, offset + data.length, true, async () => {
      const files = (await this.filesOf(h, true))!;
      const table = stampTableOf(h, await this.sums(h, files));
      const first = offset / blockBytes;
      let applied = 0;
      // Runs of consecutive blocks that the rule lets in, each written as one mutation.
      for (let i = 0; i < crcs.length; ) {
        const applies = (k: number): boolean => copyApplies(table.readUInt32BE((first + k) * stampEntryBytes), table.readUInt32BE((first + k) * stampEntryBytes + 4), stamps.epochs[k]!, stamps.seqs[k]!, floorEpoch);
        if (!applies(i)) {
          i++;
          continue;
        }
        let j = i + 1;
        while (j < crcs.length && applies(j)) j++;
        await this.writeBlocks(h, files, offset + i * blockBytes, data.subarray(i * blockBytes, j * blockBytes), crcs.subarray(i, j), stampEntries(stamps, i, j - i), true);
        applied += j - i;
        i = j;
      }
      return applied;
    });
  }

  repairBlocks(volumeId: number, index: number, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps): Promise<void> {
    const h = this.mustHold(volumeId, index);
    assertWholeBlocks(offset, data.length);
    assert(crcs.length === data.length / blockBytes && stamps.epochs.length === crcs.length && stamps.seqs.length === crcs.length, 'one crc and one stamp per repaired block');
    const bad = firstMismatch(blockCrcs(data), settledEntries(crcs));
    if (bad >= 0) return Promise.reject(new BasaltError(ErrorCode.Checksum, `repair data for extent ${volumeId}/${index} block ${offset / blockBytes + bad} does not match its checksum; nothing was written`, { volumeId, index, block: offset / blockBytes + bad }));
    const refusal = this.admitSpace(h, data.length);
    if (refusal !== undefined) return Promise.reject(refusal);
    return this.locked(h, offset, offset + data.length, true, async () => {
      const files = (await this.filesOf(h, true))!;
      await this.writeBlocks(h, files, offset, data, crcs, stampEntries(stamps, 0, crcs.length));
    });
  }

  takeSnapshot(volumeId: number, index: number, id: number, stamp: Stamp): Promise<void> {
    const h = this.mustHold(volumeId, index);
    return this.locked(h, 0, h.meta.extentSizeBytes, true, async () => {
      h.meta = { ...h.meta, snapshots: withMark(h.meta.snapshots, { id, epoch: stamp.epoch, seq: stamp.seq }) };
      await this.index.putExtents([h.meta]);
    });
  }

  deleteSnapshot(volumeId: number, index: number, id: number): Promise<void> {
    const h = this.mustHold(volumeId, index);
    return this.locked(h, 0, h.meta.extentSizeBytes, true, async () => {
      const next = withoutMark(h.meta.snapshots, id);
      if (next === undefined) throw snapshotNotFound(volumeId, index, id);
      const gone = await this.layerIfAny(h, id);
      if (gone !== undefined && next.previous !== undefined) {
        const previous = next.previous;
        const keep: LayerEntry[] = [];
        const prevHeld = (await this.layerIfAny(h, previous.id))?.records;
        for (const r of gone.records.values()) {
          if (heldBy(previous, r.epoch, r.seq) && prevHeld?.has(r.block) !== true) keep.push({ ...r, data: await gone.data(r) });
        }
        if (keep.length > 0) await (await this.layer(h, previous.id)).append(keep);
      }
      const { snapshots: _old, ...rest } = h.meta;
      h.meta = next.marks.length === 0 ? rest : { ...rest, snapshots: next.marks };
      await this.index.putExtents([h.meta]);
      h.layers?.delete(id);
      await gone?.remove();
    });
  }

  readSnapshot(volumeId: number, index: number, id: number, offset: number, length: number): Promise<ReadOutcome> {
    const h = this.mustHold(volumeId, index);
    const [a, b] = aligned(offset, length);
    return this.locked(h, a, b, false, async () => {
      const marks = layersFrom(h.meta.snapshots, id);
      if (marks === undefined) throw snapshotNotFound(volumeId, index, id);
      const files = await this.filesOf(h, false);
      const buf = Buffer.alloc(b - a);
      const fromExtent: number[] = [];
      for (let blk = a / blockBytes; blk < b / blockBytes; blk++) {
        const found = await this.layered(h, marks, blk);
        if (found !== undefined) (await found.layer.data(found.record)).copy(buf, blk * blockBytes - a);
        else fromExtent.push(blk);
      }
      if (files !== undefined && fromExtent.length > 0) {
        const sums = await this.sums(h, files);
        for (const blk of fromExtent) {
          const data = await this.io.read(files.fd, blockBytes, blk * blockBytes, 'read extent data');
          this.verified(h, data, entriesOf(sums, blk * blockBytes, (blk + 1) * blockBytes), blk * blockBytes);
          data.copy(buf, blk * blockBytes - a);
        }
      }
      const data = buf.subarray(offset - a, offset - a + length);
      return { data, crcs: pieceCrcs(offset, data) };
    });
  }

  changedBlocks(volumeId: number, index: number, from: number | undefined, to: number | undefined, offset: number, length: number): Promise<number[]> {
    const h = this.mustHold(volumeId, index);
    assertWholeBlocks(offset, length);
    return this.locked(h, offset, offset + length, false, async () => {
      const { fromMark, marks, between } = diffLayers(h.meta.snapshots, volumeId, index, from, to);
      const files = await this.filesOf(h, false);
      const sums = files === undefined ? undefined : await this.sums(h, files);
      const table = sums === undefined ? undefined : stampTableOf(h, sums);
      const out: number[] = [];
      for (let blk = offset / blockBytes; blk < (offset + length) / blockBytes; blk++) {
        const found = await this.layered(h, marks, blk);
        const epoch = found?.record.epoch ?? table?.readUInt32BE(blk * stampEntryBytes) ?? 0;
        const seq = found?.record.seq ?? table?.readUInt32BE(blk * stampEntryBytes + 4) ?? 0;
        if (fromMark === undefined ? changedSince(undefined, epoch, seq) : changedBetween(fromMark, epoch, seq, found?.record.crc ?? currentCrc(sums, blk), (await this.layered(h, between, blk))?.record)) out.push(blk);
      }
      return out;
    });
  }

  snapshotRecords(volumeId: number, index: number, id: number, fromBlock: number, max: number): Promise<{ records: SnapshotRecordCopy[]; next: number | undefined }> {
    const h = this.mustHold(volumeId, index);
    return this.locked(h, 0, h.meta.extentSizeBytes, false, async () => {
      if (!h.meta.snapshots?.some((m) => m.id === id)) throw snapshotNotFound(volumeId, index, id);
      const layer = await this.layerIfAny(h, id);
      if (layer === undefined) return { records: [], next: undefined };
      const blocks = [...layer.records.keys()].filter((b) => b >= fromBlock).sort((x, y) => x - y);
      const records: SnapshotRecordCopy[] = [];
      for (const b of blocks.slice(0, max)) {
        const r = layer.records.get(b)!;
        records.push({ block: b, crc: r.crc, epoch: r.epoch, seq: r.seq, data: await layer.data(r) });
      }
      return { records, next: blocks.length > max ? blocks[max] : undefined };
    });
  }

  installSnapshotRecords(volumeId: number, index: number, id: number, records: readonly SnapshotRecordCopy[]): Promise<number> {
    const h = this.mustHold(volumeId, index);
    return this.locked(h, 0, h.meta.extentSizeBytes, true, async () => {
      if (!h.meta.snapshots?.some((m) => m.id === id)) return 0;
      await (await this.layer(h, id)).append(records, true);
      return records.length;
    });
  }

  verifySnapshotLayer(volumeId: number, index: number, id: number): Promise<{ bad: Omit<SnapshotRecordCopy, 'data'>[]; bytes: number }> {
    const h = this.mustHold(volumeId, index);
    return this.locked(h, 0, h.meta.extentSizeBytes, false, async () => {
      const bad: Omit<SnapshotRecordCopy, 'data'>[] = [];
      const layer = h.meta.snapshots?.some((m) => m.id === id) === true ? await this.layerIfAny(h, id) : undefined;
      if (layer === undefined) return { bad, bytes: 0 };
      let bytes = 0;
      for (const r of layer.records.values()) {
        bytes += blockBytes;
        await layer.data(r).catch((err: unknown) => {
          if (!isBasaltError(err, ErrorCode.Checksum)) throw err;
          bad.push({ block: r.block, crc: r.crc, epoch: r.epoch, seq: r.seq });
        });
      }
      this.checksumErrors += bad.length;
      return { bad, bytes };
    });
  }

  /** Makes every write that resolved before this call durable, the extent's only when one is named (one group-commit round). */
  async sync(extent?: { readonly volumeId: number; readonly index: number }): Promise<void> {
    this.checkHealthy();
    let fd: number | undefined;
    if (extent !== undefined) {
      const files = this.held.get(extentKey(extent.volumeId, extent.index))?.files;
      // Files never opened hold no write to sync.
      if (files === undefined) return;
      fd = (await files).fd;
    }
    try {
      await this.syncGroup.sync(fd);
    } catch (err) {
      this.failure ??= new BasaltError(ErrorCode.Io, `fdatasync failed; this store refuses further I/O: ${String(err)}`, {}, { cause: err });
      throw this.failure;
    }
  }

  /**
   * Deletes every replica of a volume (the reclaimer calls it for volumes metad deleted): for
   * each, waits for the operations called before it, then closes its file; then removes the
   * volume's folder and the index records. Operations queued behind the removal fail with
   * BASALT_STALE_EPOCH; later requests find no replica, as for an extent never seen. The
   * folder goes before the records, so a crash in between leaves records of absent files,
   * which read as zeros and are removed by the next attempt, never files without records.
   */
  async removeVolume(volumeId: number): Promise<{ replicas: number; bytes: number }> {
    const victims = [...this.held.values()].filter((h) => h.meta.volumeId === volumeId);
    // Taken now, as every operation takes its lock on the call: the removal's place in each order.
    const locks = victims.map((h) => h.lock.acquire(0, Number.MAX_SAFE_INTEGER, true));
    for (const [i, h] of victims.entries()) {
      const release = await locks[i]!;
      try {
        h.removed = true;
        this.held.delete(extentKey(volumeId, h.meta.index));
        this.sidecars.forget(h);
        const files = await h.files?.catch(() => undefined);
        if (files !== undefined) {
          this.syncGroup.forget(files.fd);
          await this.closeFiles(files);
        }
        await this.closeLayers(h);
      } finally {
        release();
      }
    }
    const bytes = await removeVolumeDir(this.dir, volumeId);
    await this.index.deleteVolume(volumeId, victims.map((h) => h.meta.index));
    this.generations.delete(volumeId);
    return { replicas: victims.length, bytes };
  }

  /**
   * Persists versions, syncs, closes files and the index, and records a clean shutdown (only
   * when everything before it succeeded: otherwise the next open suspects a power loss if the
   * machine rebooted meanwhile).
   */
  async close(): Promise<void> {
    const metas = this.list();
    let clean = this.failure === undefined;
    if (metas.length > 0 && clean) await this.index.putExtents(metas).catch(() => (clean = false));
    if (clean) await this.sync().catch(() => (clean = false));
    for (const h of this.held.values()) {
      const files = await h.files?.catch(() => undefined);
      if (files !== undefined) await this.closeFiles(files);
      await this.closeLayers(h);
    }
    await this.index.close();
    if (clean) await writeBootRecord(this.dir, { bootId: this.bootId, clean: true });
  }

  /** A snapshot layer of the extent, opened (or created) on first use. */
  private layer(h: Held, id: number): Promise<SnapshotLayer> {
    h.layers ??= new Map();
    let layer = h.layers.get(id);
    if (layer === undefined) {
      layer = SnapshotLayer.open(layerPath(this.dir, h.meta.volumeId, h.meta.index, id));
      h.layers.set(id, layer);
      const opened = layer;
      opened.then(undefined, () => {
        if (h.layers?.get(id) === opened) h.layers.delete(id);
      });
    }
    return layer;
  }

  /** A snapshot layer of the extent if it has a file (nothing was preserved for it otherwise): opened, never created. */
  private async layerIfAny(h: Held, id: number): Promise<SnapshotLayer | undefined> {
    if (h.layers?.has(id) === true) return this.layer(h, id);
    const exists = await fs.promises.access(layerPath(this.dir, h.meta.volumeId, h.meta.index, id)).then(() => true, () => false);
    return exists ? this.layer(h, id) : undefined;
  }

  private async closeFiles(files: ExtentFiles): Promise<void> {
    await this.direct?.close(files);
    await closeExtentFiles(files);
  }

  private async closeLayers(h: Held): Promise<void> {
    for (const layer of h.layers?.values() ?? []) await (await layer.catch(() => undefined))?.close();
    h.layers = undefined;
  }

  /** The first record of the block in the layers of `marks`, if any. */
  private async layered(h: Held, marks: readonly SnapshotMark[], blk: number): Promise<{ layer: SnapshotLayer; record: LayerRecord } | undefined> {
    for (const m of marks) {
      const layer = await this.layerIfAny(h, m.id);
      const record = layer?.records.get(blk);
      if (record !== undefined) return { layer: layer!, record };
    }
    return undefined;
  }

  /**
   * Copy-on-write before a mutation of the whole blocks [a, b): every block the newest snapshot
   * holds (stamp at most its mark) is appended to that snapshot's layer with its CRC and stamp,
   * and synced, before the caller overwrites it.
   */
  private async preserve(h: Held, files: ExtentFiles, a: number, b: number): Promise<void> {
    const newest = newestMark(h.meta.snapshots);
    if (newest === undefined) return;
    const sums = await this.sums(h, files);
    const table = stampTableOf(h, sums);
    const held: number[] = [];
    for (let blk = a / blockBytes; blk < b / blockBytes; blk++) {
      if (heldBy(newest, table.readUInt32BE(blk * stampEntryBytes), table.readUInt32BE(blk * stampEntryBytes + 4))) held.push(blk);
    }
    if (held.length === 0) return;
    const layer = await this.layer(h, newest.id);
    const entries: LayerEntry[] = [];
    for (const blk of held) {
      if (layer.records.has(blk)) continue;
      const data = await this.io.read(files.fd, blockBytes, blk * blockBytes, 'read extent data to preserve');
      const actual = crc32c(data);
      entries.push({ block: blk, crc: matchesEntry(actual, sums, blk) ? actual : (sums.readUInt32BE(blk * entryBytes) ^ zeroBlockCrc) >>> 0, epoch: table.readUInt32BE(blk * stampEntryBytes), seq: table.readUInt32BE(blk * stampEntryBytes + 4), data });
    }
    await layer.append(entries);
  }

  private mustHold(volumeId: number, index: number): Held {
    const h = this.held.get(extentKey(volumeId, index));
    assert(h !== undefined, `extent ${volumeId}/${index} has no metadata; setMeta first`);
    return h;
  }

  private locked<T>(h: Held, a: number, b: number, exclusive: boolean, body: () => Promise<T>): Promise<T> {
    return this.lockedAfter(h, h.lock.acquire(a, b, exclusive), undefined, body);
  }

  /** Runs body once the lock is held (and `first` settled, if given); releases it after. */
  private async lockedAfter<T>(h: Held, acquired: Promise<() => void>, first: Promise<void> | undefined, body: () => Promise<T>): Promise<T> {
    const release = await acquired;
    try {
      if (first !== undefined) await first;
      this.checkHealthy();
      if (h.removed === true) throw new BasaltError(ErrorCode.StaleEpoch, `extent ${h.meta.volumeId}/${h.meta.index} was removed from this server: its volume was deleted`, { volumeId: h.meta.volumeId, index: h.meta.index });
      return await body();
    } finally {
      release();
    }
  }

  private admitSpace(h: Held, bytes: number): BasaltError | undefined {
    return this.space.admit(bytes + (h.files === undefined ? blockMetaBytes(h.meta.extentSizeBytes) : 0));
  }

  /**
   * Settles a suspect replica (one settle for concurrent callers, taking the whole extent's
   * lock on the call): re-reads every block; a block whose data matches only the previous
   * checksum slot lost its data write to the power loss, so both slots are set to what it holds
   * and its stamp to (0, 1), data of unknown age. Blocks matching no slot are left for the
   * scrubber (stamps() with verify reports them). Then the flag is cleared.
   */
  private settle(h: Held): Promise<void> {
    if (h.settling !== undefined) return h.settling;
    const settling = this.locked(h, 0, h.meta.extentSizeBytes, true, async () => {
      if (h.meta.suspect !== true) return;
      const files = await this.filesOf(h, false);
      if (files !== undefined) {
        const meta = await this.sums(h, files);
        const table = stampTableOf(h, meta);
        const unknown = uniformStampEntries(1, unknownAge);
        for (let pos = 0; pos < h.meta.extentSizeBytes; pos += limits.chunkVerifyReadBytes) {
          const actual = blockCrcs(await this.io.read(files.fd, limits.chunkVerifyReadBytes, pos, 'settle extent data'));
          for (let k = 0; k < actual.length; k++) {
            const block = pos / blockBytes + k;
            const stored = (actual[k]! ^ zeroBlockCrc) >>> 0;
            if (stored === meta.readUInt32BE(block * entryBytes) || stored !== meta.readUInt32BE(block * entryBytes + 4)) continue;
            const entry = settledEntries([actual[k]!]);
            await this.io.write(files.fd, entry, files.sidecarAt + block * entryBytes, 'settle extent checksums');
            entry.copy(meta, block * entryBytes);
            await this.io.write(files.fd, unknown, files.stampsAt + block * stampEntryBytes, 'settle extent stamps');
            unknown.copy(table, block * stampEntryBytes);
            this.syncGroup.markDirty(files.fd);
          }
        }
      }
      const { suspect: _cleared, ...rest } = h.meta;
      h.meta = rest;
      await this.index.putExtents([h.meta]);
    });
    h.settling = settling;
    const done = (): void => {
      if (h.settling === settling) h.settling = undefined;
    };
    settling.then(done, done);
    return settling;
  }

  private checkHealthy(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * The extent's open files. Without create, undefined when the extent was never written.
   * Opening and creating are memoised so concurrent callers share one attempt; a failed
   * creation (e.g. BASALT_NO_SPACE) is forgotten so a later call may retry.
   */
  private filesOf(h: Held, create: boolean): Promise<ExtentFiles | undefined> {
    if (h.files !== undefined) return h.files;
    const { volumeId, index, extentSizeBytes } = h.meta;
    h.probe ??= openExtentFiles(this.dir, volumeId, index, extentSizeBytes).then((found) => {
      h.probe = undefined;
      if (found !== undefined) h.files ??= Promise.resolve(found);
      return found;
    });
    if (!create) return h.probe;
    const files = h.probe.then((found) => found ?? createExtentFiles(this.dir, volumeId, index, extentSizeBytes));
    h.files = files;
    files.then(undefined, () => {
      if (h.files === files) h.files = undefined;
    });
    return files;
  }

  /**
   * The extent's block metadata in memory (sidecar-cache.ts): the checksum sidecar, then the
   * stamp table (stampTableOf). Use only while holding the range lock.
   */
  private sums(h: Held, files: ExtentFiles): Buffer | Promise<Buffer> {
    return this.sidecars.get(h, () => this.io.read(files.fd, blockMetaBytes(h.meta.extentSizeBytes), files.sidecarAt, 'read extent checksums and stamps'));
  }

  private verified(h: Held, buf: Buffer, entries: Buffer, a: number): Uint32Array {
    const crcs = blockCrcs(buf);
    const bad = firstMismatch(crcs, entries);
    if (bad >= 0) {
      this.checksumErrors++;
      const block = a / blockBytes + bad;
      throw new BasaltError(ErrorCode.Checksum, `checksum mismatch in extent ${h.meta.volumeId}/${h.meta.index} block ${block} on this chunk server`, { volumeId: h.meta.volumeId, index: h.meta.index, block });
    }
    return crcs;
  }

  /**
   * Sidecar first ([new, old]), data second (see sidecar.ts for why either order of loss is safe),
   * stamps last (a crash before them leaves the old stamps: the blocks look older than they are,
   * and a catch-up copies them again). `stamps` holds one entry per block of the aligned range.
   * A member's data write of chunkDirectWriteBytesMin and up goes with O_DIRECT when the store
   * has them on (always whole blocks at block offsets: [a, b) is aligned, partial edge blocks
   * merged first).
   */
  private async writeBlocks(h: Held, files: ExtentFiles, offset: number, data: Buffer, crcs: Uint32Array, stamps: Buffer, member = false): Promise<void> {
    const [a, b] = aligned(offset, data.length);
    const entryAt = (a / blockBytes) * entryBytes;
    const sums = await this.sums(h, files);
    const entries = entriesOf(sums, a, b);
    const buf = a === offset && b === offset + data.length ? data : await this.merged(h, files, a, b, offset, data, entries);
    const newCrcs = new Uint32Array(crcs.length);
    forEachPiece(offset, data.length, (s, e, i) => {
      newCrcs[i] = e - s === blockBytes ? crcs[i]! : crc32c(buf.subarray(i * blockBytes, (i + 1) * blockBytes));
    });
    const shifted = shiftedEntries(entries, newCrcs);
    await this.io.write(files.fd, shifted, files.sidecarAt + entryAt, 'write extent checksums');
    shifted.copy(sums, entryAt);
    this.syncGroup.markDirty(files.fd);
    try {
      const direct = member && this.direct !== undefined && buf.length >= this.directWriteBytesMin && (await this.direct.write(files, buf, a, 'write extent data'));
      if (!direct) await this.io.write(files.fd, buf, a, 'write extent data');
    } catch (err) {
      await this.settleFailedWrite(files, sums, a, b).catch(() => undefined);
      throw err;
    }
    await this.writeStamps(h, files, sums, a, stamps);
  }

  /**
   * The last step of every data write and zeroing: the file is marked dirty again once all of it
   * is in the file, since a sync round that began after the first mark (before the data write)
   * took the file off the dirty set and may have synced before the data landed.
   */
  private async writeStamps(h: Held, files: ExtentFiles, meta: Buffer, a: number, stamps: Buffer): Promise<void> {
    const at = (a / blockBytes) * stampEntryBytes;
    await this.io.write(files.fd, stamps, files.stampsAt + at, 'write extent stamps');
    stamps.copy(stampTableOf(h, meta), at);
    this.syncGroup.markDirty(files.fd);
  }

  /** The whole blocks [a, b) with data laid over the old contents of the partial edge blocks. */
  private async merged(h: Held, files: ExtentFiles, a: number, b: number, offset: number, data: Buffer, entries: Buffer): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(b - a);
    const edges = new Set([a, b - blockBytes].filter((blk) => blk < offset || blk + blockBytes > offset + data.length));
    for (const blk of edges) {
      const old = await this.io.read(files.fd, blockBytes, blk, 'read extent data');
      const at = ((blk - a) / blockBytes) * entryBytes;
      this.verified(h, old, entries.subarray(at, at + entryBytes), blk);
      old.copy(buf, blk - a);
    }
    data.copy(buf, offset - a);
    return buf;
  }

  /** After a failed data write: describe whatever the blocks now hold, in both slots. */
  private async settleFailedWrite(files: ExtentFiles, sums: Buffer, a: number, b: number): Promise<void> {
    const now = await this.io.read(files.fd, b - a, a, 'read extent data');
    const settled = settledEntries(blockCrcs(now));
    await this.io.write(files.fd, settled, files.sidecarAt + (a / blockBytes) * entryBytes, 'write extent checksums');
    settled.copy(sums, (a / blockBytes) * entryBytes);
  }

  private async zeroBlocks(h: Held, files: ExtentFiles, a: number, b: number, stamp: Stamp): Promise<void> {
    const entryAt = (a / blockBytes) * entryBytes;
    const sums = await this.sums(h, files);
    const zeroCrc = crc32c(Buffer.alloc(blockBytes));
    const shifted = shiftedEntries(entriesOf(sums, a, b), new Array<number>((b - a) / blockBytes).fill(zeroCrc));
    await this.io.write(files.fd, shifted, files.sidecarAt + entryAt, 'write extent checksums');
    shifted.copy(sums, entryAt);
    this.syncGroup.markDirty(files.fd);
    if (b - a < limits.chunkPunchHoleBytesMin || !(await punchHole(files.path, a, b - a))) {
      const zeros = Buffer.alloc(Math.min(b - a, 1024 * 1024));
      for (let pos = a; pos < b; pos += zeros.length) await this.io.write(files.fd, zeros.subarray(0, Math.min(zeros.length, b - pos)), pos, 'zero extent data');
    }
    await this.writeStamps(h, files, sums, a, uniformStampEntries((b - a) / blockBytes, stamp));
  }
}

/** The stamp table inside an extent's block metadata buffer (after the sidecar). */
function stampTableOf(h: Held, meta: Buffer): Buffer {
  return meta.subarray(sidecarBytes(h.meta.extentSizeBytes));
}

/** The CRC a block's current checksum slot records (the zero block's without block metadata). */
function currentCrc(sums: Buffer | undefined, block: number): number {
  return sums === undefined ? zeroBlockCrc : (sums.readUInt32BE(block * entryBytes) ^ zeroBlockCrc) >>> 0;
}

/** Whether a block's CRC matches either checksum slot of its entry. */
function matchesEntry(crc: number, meta: Buffer, block: number): boolean {
  const stored = (crc ^ zeroBlockCrc) >>> 0;
  return stored === meta.readUInt32BE(block * entryBytes) || stored === meta.readUInt32BE(block * entryBytes + 4);
}

function assertWholeBlocks(offset: number, length: number): void {
  assert(offset % blockBytes === 0 && length % blockBytes === 0, 'a range of whole blocks');
}

/** The sidecar entries of the whole blocks [a, b) (a view: copy before the mirror changes). */
function entriesOf(sums: Buffer, a: number, b: number): Buffer {
  return sums.subarray((a / blockBytes) * entryBytes, (b / blockBytes) * entryBytes);
}

function aligned(offset: number, length: number): [number, number] {
  return [Math.floor(offset / blockBytes) * blockBytes, Math.ceil((offset + length) / blockBytes) * blockBytes];
}

/** Piece checksums of buf[start, start+length) given the checksums of buf's whole blocks. */
function pieceCrcsFrom(buf: Buffer, start: number, length: number, blocks: Uint32Array): Uint32Array {
  const out = new Uint32Array(Math.ceil((start + length) / blockBytes) - Math.floor(start / blockBytes));
  forEachPiece(start, length, (s, e, i) => {
    out[i] = e - s === blockBytes ? blocks[i]! : crc32c(buf.subarray(start + s, start + e));
  });
  return out;
}

/** Deallocates a range with fallocate(1) (Node has no fallocate); false when that fails. */
function punchHole(file: string, offset: number, length: number): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('fallocate', ['--punch-hole', '--keep-size', '--offset', String(offset), '--length', String(length), file], (err) => resolve(err === null));
  });
}
