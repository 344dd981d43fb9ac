import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { assert, BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { forEachPiece, pieceCrcs } from '@basalt/wire';
import { extentKey, type ReplicaMeta } from '../replica/replica-meta.js';
import { ExtentIndex } from './extent-index.js';
import { closeExtentFiles, createExtentFiles, openExtentFiles, removeVolumeDir, type ExtentFiles } from './extent-files.js';
import { fdatasync, readFully } from './fs-io.js';
import { InlineIo } from './inline-io.js';
import { RangeLock } from './range-lock.js';
import { blockBytes, blockCrcs, entryBytes, firstMismatch, settledEntries, shiftedEntries, sidecarBytes } from './sidecar.js';
import { SidecarCache } from './sidecar-cache.js';
import { SpaceGuard } from './space-guard.js';
import { SyncGroup } from './sync-group.js';

/**
 * The extent store of one chunk server: extent replicas as sparse files, each with its checksum
 * sidecar after the data (extent-files.ts, sidecar.ts), and a LevelDB index (extent-index.ts).
 *
 * Operations on one extent are ordered by a range lock taken synchronously when the operation
 * is called, so callers get their call order (see range-lock.ts). Data written is in the page
 * cache when a write resolves (survives a process crash); sync() makes it durable (group commit).
 * After a failed fdatasync the store refuses all further I/O: the kernel may have dropped the
 * dirty pages, so a later successful fdatasync would prove nothing.
 */
interface Held {
  meta: ReplicaMeta;
  readonly lock: RangeLock;
  files: Promise<ExtentFiles> | undefined;
  /** An attempt to open existing files, while one runs. */
  probe?: Promise<ExtentFiles | undefined> | undefined;
  /** Removed with its volume (removeVolume): operations still queued on it fail. */
  removed?: boolean;
}

export interface ReadOutcome {
  readonly data: Buffer;
  /** One CRC32C per piece of the range (pieces.ts); whole blocks carry the stored checksum. */
  readonly crcs: Uint32Array;
}

export interface ExtentStoreOptions {
  /** Free bytes kept back from extent data; default min(256 MiB, 1/32 of the filesystem). */
  readonly reserveBytes?: number;
  /** Memory for in-memory sidecar copies; default limits.chunkSidecarCacheBytesMax. */
  readonly sidecarCacheBytes?: number;
  /** Reads and writes up to this size may run on the event loop (inline-io.ts); default limits.chunkInlineIoBytesMax, 0 = never. */
  readonly inlineIoBytesMax?: number;
}

export class ExtentStore {
  private readonly held = new Map<string, Held>();
  private readonly generations: Map<number, number>;
  private readonly syncGroup = new SyncGroup((fd) => fdatasync(fd, 'fdatasync extent'));
  private failure: BasaltError | undefined;
  private readonly space: SpaceGuard;
  private readonly sidecars: SidecarCache<Held>;
  private readonly io: InlineIo;
  /** Checksum mismatches found on read or before a read-modify-write. */
  checksumErrors = 0;

  private constructor(
    readonly dir: string,
    private readonly index: ExtentIndex,
    loaded: { extents: ReplicaMeta[]; generations: Map<number, number> },
    options: ExtentStoreOptions,
  ) {
    this.space = new SpaceGuard(dir, options.reserveBytes);
    this.sidecars = new SidecarCache(options.sidecarCacheBytes ?? limits.chunkSidecarCacheBytesMax, (h) => h.lock.size === 0);
    this.io = new InlineIo(options.inlineIoBytesMax ?? limits.chunkInlineIoBytesMax);
    for (const meta of loaded.extents) this.held.set(extentKey(meta.volumeId, meta.index), { meta, lock: new RangeLock(), files: undefined });
    this.generations = loaded.generations;
  }

  static async open(dir: string, options: ExtentStoreOptions = {}): Promise<ExtentStore> {
    await fs.promises.mkdir(path.join(dir, 'extents'), { recursive: true });
    const index = await ExtentIndex.open(path.join(dir, 'index'));
    return new ExtentStore(dir, index, await index.load(), options);
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

  /** Reads and writes of extent files run on the event loop and in the thread pool, and inline reads that found the disk (inline-io.ts). */
  get ioStats(): { inline: number; pool: number; slowInlineReads: number } {
    return { ...this.io.ops, slowInlineReads: this.io.slowReads };
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
    h.meta = { volumeId: m.volumeId, index: m.index, extentSizeBytes: m.extentSizeBytes, epoch: m.epoch, replicas: m.replicas, version: m.version + 1, state: m.state };
    return h.meta.version;
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
      const [buf, sums] = await Promise.all([this.io.read(files.fd, b - a, a, 'read extent data'), this.sums(h, files)]);
      const crcs = this.verified(h, buf, entriesOf(sums, a, b), a);
      return { data: buf.subarray(offset - a, offset - a + length), crcs: pieceCrcsFrom(buf, offset - a, length, crcs) };
    });
  }

  /** Writes data whose piece checksums the caller verified; read-modify-write for partial blocks. */
  write(volumeId: number, index: number, offset: number, data: Buffer, crcs: Uint32Array): Promise<void> {
    const h = this.mustHold(volumeId, index);
    const refusal = this.space.admit(data.length + (h.files === undefined ? sidecarBytes(h.meta.extentSizeBytes) : 0));
    if (refusal !== undefined) return Promise.reject(refusal);
    const [a, b] = aligned(offset, data.length);
    return this.locked(h, a, b, true, async () => {
      const files = await this.filesOf(h, true);
      await this.writeBlocks(h, files!, offset, data, crcs);
    });
  }

  /** Makes [offset, offset+length) read as zeros, punching holes for long aligned runs. */
  zero(volumeId: number, index: number, offset: number, length: number): Promise<void> {
    const h = this.mustHold(volumeId, index);
    const [a, b] = aligned(offset, length);
    return this.locked(h, a, b, true, async () => {
      const files = await this.filesOf(h, false);
      if (files === undefined) return; // never written: already zeros
      const innerA = Math.ceil(offset / blockBytes) * blockBytes;
      const innerB = Math.max(innerA, Math.floor((offset + length) / blockBytes) * blockBytes);
      for (const [s, e] of [[offset, Math.min(innerA, offset + length)], [Math.max(innerB, offset), offset + length]] as const) {
        if (e > s) await this.writeBlocks(h, files, s, Buffer.alloc(e - s), pieceCrcs(s, Buffer.alloc(e - s)));
      }
      if (innerB > innerA) await this.zeroBlocks(h, files, innerA, innerB);
    });
  }

  /** Makes every write that resolved before this call durable (one group-commit round). */
  async sync(): Promise<void> {
    this.checkHealthy();
    try {
      await this.syncGroup.sync();
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
          await closeExtentFiles(files);
        }
      } finally {
        release();
      }
    }
    const bytes = await removeVolumeDir(this.dir, volumeId);
    await this.index.deleteVolume(volumeId, victims.map((h) => h.meta.index));
    this.generations.delete(volumeId);
    return { replicas: victims.length, bytes };
  }

  /** Persists versions, closes files and the index. */
  async close(): Promise<void> {
    const metas = this.list();
    if (metas.length > 0 && this.failure === undefined) await this.index.putExtents(metas).catch(() => undefined);
    for (const h of this.held.values()) {
      const files = await h.files?.catch(() => undefined);
      if (files !== undefined) await closeExtentFiles(files);
    }
    await this.index.close();
  }

  private mustHold(volumeId: number, index: number): Held {
    const h = this.held.get(extentKey(volumeId, index));
    assert(h !== undefined, `extent ${volumeId}/${index} has no metadata; setMeta first`);
    return h;
  }

  private async locked<T>(h: Held, a: number, b: number, exclusive: boolean, body: () => Promise<T>): Promise<T> {
    const acquired = h.lock.acquire(a, b, exclusive);
    const release = await acquired;
    try {
      this.checkHealthy();
      if (h.removed === true) throw new BasaltError(ErrorCode.StaleEpoch, `extent ${h.meta.volumeId}/${h.meta.index} was removed from this server: its volume was deleted`, { volumeId: h.meta.volumeId, index: h.meta.index });
      return await body();
    } finally {
      release();
    }
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

  /** The extent's sidecar in memory (sidecar-cache.ts); use only while holding the range lock. */
  private sums(h: Held, files: ExtentFiles): Buffer | Promise<Buffer> {
    return this.sidecars.get(h, () => readFully(files.fd, sidecarBytes(h.meta.extentSizeBytes), files.sidecarAt, 'read extent checksums'));
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

  /** Sidecar first ([new, old]), data second; see sidecar.ts for why either order of loss is safe. */
  private async writeBlocks(h: Held, files: ExtentFiles, offset: number, data: Buffer, crcs: Uint32Array): Promise<void> {
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
      await this.io.write(files.fd, buf, a, 'write extent data');
    } catch (err) {
      await this.settle(files, sums, a, b).catch(() => undefined);
      throw err;
    }
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
  private async settle(files: ExtentFiles, sums: Buffer, a: number, b: number): Promise<void> {
    const now = await this.io.read(files.fd, b - a, a, 'read extent data');
    const settled = settledEntries(blockCrcs(now));
    await this.io.write(files.fd, settled, files.sidecarAt + (a / blockBytes) * entryBytes, 'write extent checksums');
    settled.copy(sums, (a / blockBytes) * entryBytes);
  }

  private async zeroBlocks(h: Held, files: ExtentFiles, a: number, b: number): Promise<void> {
    const entryAt = (a / blockBytes) * entryBytes;
    const sums = await this.sums(h, files);
    const zeroCrc = crc32c(Buffer.alloc(blockBytes));
    const shifted = shiftedEntries(entriesOf(sums, a, b), new Array<number>((b - a) / blockBytes).fill(zeroCrc));
    await this.io.write(files.fd, shifted, files.sidecarAt + entryAt, 'write extent checksums');
    shifted.copy(sums, entryAt);
    this.syncGroup.markDirty(files.fd);
    if (b - a >= limits.chunkPunchHoleBytesMin && (await punchHole(files.path, a, b - a))) return;
    const zeros = Buffer.alloc(Math.min(b - a, 1024 * 1024));
    for (let pos = a; pos < b; pos += zeros.length) await this.io.write(files.fd, zeros.subarray(0, Math.min(zeros.length, b - pos)), pos, 'zero extent data');
  }
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
