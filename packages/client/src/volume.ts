import { setTimeout as sleep } from 'node:timers/promises';
import { BasaltError, ErrorCode, limits, TokenBucket } from '@basalt/stdx';
import { pieceCrcs, type DataConnection, type ExtentRef, type IoResult, type MetaClient, type ReplicaRef } from '@basalt/wire';
import { backoff } from './backoff.js';
import { worsePath, type ClientMetrics, type ClientOpName, type MutationPath } from './client-metrics.js';
import type { SnapshotInfo, VolumeInfo } from './cluster-types.js';
import { snapshotFromPb, volumeFromPb } from './from-pb.js';
import type { ConnectionPool } from './connection-pool.js';
import type { ExtentInfo } from './extent-map.js';
import { ExtentMap } from './extent-map.js';
import { allocateAheadIndex } from './allocate-ahead.js';
import { blockRuns, type BlockRun } from './block-runs.js';
import { singleSlice, splitByExtent, type ExtentSlice } from './split.js';
import type { BlockCipher } from './crypto/block-cipher.js';
import { BlockRangeLocks } from './crypto/block-range-locks.js';
import { HolderRequests } from './holder-requests.js';

/** What a volume's metadata says. Only the size changes while a volume is open (it may grow). */
export interface VolumeDescriptor {
  readonly id: number;
  readonly name: string;
  readonly sizeBytes: number;
  readonly extentSizeBytes: number;
  readonly replicationFactor: number;
}

/** A run of the volume that is either stored data or a hole (never written; reads as zeroes). */
export interface AllocationRun {
  readonly offset: number;
  readonly length: number;
  readonly hole: boolean;
}

/** @internal What an open volume shares with its BasaltClient. */
export interface VolumeContext {
  readonly meta: MetaClient;
  readonly pool: ConnectionPool;
  /** The writer lease: holder id and fencing generation; undefined for a read-only open. */
  readonly lease: { readonly clientId: string; readonly generation: number } | undefined;
  /** Reports what the volume does on its own (failovers, bad replicas) to the application. */
  readonly onEvent: (event: VolumeEvent) => void;
  /** Where each op's outcome and latency is counted; undefined: not counted. */
  readonly metrics?: ClientMetrics | undefined;
  /** An encrypted volume's cipher (its data key unwrapped at open); undefined: plaintext. */
  readonly cipher?: BlockCipher | undefined;
  /** A read-only open of a snapshot: its id on the chunk servers and the extents it covers (others read as zeros, or from the parent). */
  readonly at?: { readonly id: number; readonly extents: ReadonlySet<number> } | undefined;
  /** A clone's parent snapshot, open read-only: the blocks this volume never wrote read from it. */
  readonly parent?: Volume | undefined;
  /** A writer answers requests to the lease holder (holder-requests.ts) while open; default false. */
  readonly serveRequests?: boolean | undefined;
  /** A writer asks for the next extent ahead of sequential writes (allocate-ahead.ts); default false. */
  readonly allocateAhead?: boolean | undefined;
}

/** A range of whole blocks in the volume. */
export interface BlockRange {
  readonly offset: number;
  readonly length: number;
}

export type VolumeEvent =
  | { kind: 'replica_dropped'; volume: string; index: number; serverId: string; epoch: number }
  | { kind: 'checksum_error'; volume: string; index: number; serverId: string }
  /** A first write placed the extent on fewer servers than the factor: too few were up for longer than limits.clientAllocateFullWaitMs. */
  | { kind: 'allocated_degraded'; volume: string; index: number; replicas: string[]; replicationFactor: number; waitedMs: number }
  /** This writer answered a request to the lease holder (docs/snapshots.md): `error` is the code when it failed. */
  | { kind: 'holder_request'; volume: string; request: 'snapshot' | 'flatten'; snapshot?: string; error?: string };

const blockBytes = limits.checksumBlockBytes;

/** CRC32C of a 4 KiB block of zeroes: a block with it reads as zeroes. */
const zeroBlockCrc = pieceCrcs(0, new Uint8Array(limits.checksumBlockBytes))[0]!;

/** Errors after which the same request may succeed on another replica or a newer map. */
const failoverCodes: ReadonlySet<string> = new Set([ErrorCode.Unavailable, ErrorCode.Timeout, ErrorCode.Closed]);

export type MutationAction = 'refresh' | 'resend' | 'report' | 'throw';

/** The metrics path of a mutation that took `action` (a 'throw' is counted as an error, not a path). */
function pathOf(action: MutationAction): MutationPath {
  return action === 'report' ? 'failover' : action === 'refresh' ? 'stale_epoch' : 'resent';
}

/**
 * Whether LOCAL FLUSHes made an extent durable (docs/data-path.md, "Flush"): `answered` holds the
 * epoch of each OK, one per member that answered OK, of a set of `members` at the map's `epoch`.
 * Invariant: true only when every member, the primary included, answered OK at that epoch. A
 * member dropped from a newer set without knowing it still answers the old epoch, but the
 * primary refuses it once it moved on, so the old set can never count as flushed.
 */
export function flushedEverywhere(answered: readonly number[], members: number, epoch: number): boolean {
  return answered.length === members && answered.every((e) => e === epoch);
}

/**
 * What a failed mutation at the primary leads to: 'refresh' (re-read the extent's set and try
 * again), 'resend' (the same request again), 'report' (tell metad the primary did not answer; its
 * leader decides whether the set changes) or 'throw'. A failover code that the primary itself
 * answered (`details.answered`, DataConnection) means it is alive but could not replicate: a
 * report of it would ask metad to shrink a healthy set, so the SDK re-reads the set instead.
 */
export function mutationFailover(err: BasaltError): MutationAction {
  // Unauthenticated: the capability expired (or the server had not heard metad's key yet): a new map brings a new one.
  if (err.code === ErrorCode.StaleEpoch || err.code === ErrorCode.NotPrimary || err.code === ErrorCode.Unauthenticated) return 'refresh';
  if (err.code === ErrorCode.Checksum) return 'resend'; // damaged in transit: send again
  if (!failoverCodes.has(err.code)) return 'throw';
  return err.details.answered === true ? 'refresh' : 'report';
}

/**
 * An open volume. I/O of any size and alignment is cut at extent boundaries (and at
 * limits.ioRequestBytesMax) and sent to the chunk servers in parallel. Writes go to each
 * extent's primary, which replicates them; reads go to the primary and fall over to the other
 * replicas, also when one returns data that fails its checksums. Epoch changes and failovers are
 * followed through metad. Errors are BasaltErrors with stable codes.
 *
 * An encrypted volume (ctx.cipher) stores every 4 KiB block as AES-256-XTS ciphertext
 * (crypto/block-cipher.ts): reads cover whole blocks and decrypt them; a write of part of a block
 * reads, changes and rewrites the whole block under a range lock (crypto/block-range-locks.ts),
 * and so does a trim or write-zeroes of part of a block. Whole blocks are trimmed and zeroed
 * on the chunk servers as for a plaintext volume: a stored block of zeroes reads as zeroes.
 */
export class Volume {
  readonly id: number;
  readonly name: string;
  private sizeBytes: number;
  readonly extentSizeBytes: number;
  readonly replicationFactor: number;
  /** False for a read-only open: writes fail with BASALT_READ_ONLY. */
  readonly writable: boolean;
  private readonly map: ExtentMap;
  /** Extents written since the last flush began: a flush makes these durable. */
  private readonly dirty = new Set<number>();
  private closed = false;
  /** An encrypted volume's writes, by the whole blocks they cover (unused for plaintext). */
  private readonly blockLocks = new BlockRangeLocks();
  /** Writes, trims and write-zeroes not yet settled; a snapshot waits for them. */
  private readonly inflight = new Set<Promise<unknown>>();
  /** While a snapshot is taken: mutations called meanwhile wait for it. */
  private barrier: Promise<void> | undefined;
  /** A clone's parent snapshot view; undefined for other volumes and once a flatten ended the read-through. */
  private parent: Volume | undefined;
  /**
   * While a background flatten copies: the whole-block ranges its copy and the clone's own writes
   * hold, so a copy never lands over a block the clone wrote meanwhile (flattenInBackground).
   */
  private copyLocks: BlockRangeLocks | undefined;
  /** Where the last write called on this volume ended (volume offset), -1 before the first: allocation ahead (allocate-ahead.ts). */
  private lastWriteEnd = -1;
  /** The requests to the lease holder this writer answers (holder-requests.ts); undefined when it does not. */
  private readonly requests: HolderRequests | undefined;

  /** @internal Volumes come from BasaltClient.openVolume. */
  constructor(descriptor: VolumeDescriptor, private readonly ctx: VolumeContext) {
    this.id = descriptor.id;
    this.name = descriptor.name;
    this.sizeBytes = descriptor.sizeBytes;
    this.extentSizeBytes = descriptor.extentSizeBytes;
    this.replicationFactor = descriptor.replicationFactor;
    this.writable = ctx.lease !== undefined && ctx.at === undefined;
    this.parent = ctx.parent;
    this.map = new ExtentMap(ctx.meta, descriptor.name, this.writable, descriptor.replicationFactor, (info, waitedMs) => {
      ctx.onEvent({ kind: 'allocated_degraded', volume: this.name, index: info.index, replicas: info.replicas.map((r) => r.serverId), replicationFactor: this.replicationFactor, waitedMs });
    });
    this.requests = this.writable && ctx.serveRequests === true ? new HolderRequests(this, ctx.meta, ctx.onEvent) : undefined;
  }

  /**
   * Size in bytes, as last read from metad: at open, at refreshSize(), or when an access past this
   * end made the volume look again (so a volume grown by anyone is used at its new size at once).
   */
  get size(): number {
    return this.sizeBytes;
  }

  /** Reads the volume's size from metad again and returns it (it grows with resizeVolume). */
  async refreshSize(): Promise<number> {
    this.checkOpen();
    const reply = await this.ctx.meta.call('getVolume', { name: this.name });
    this.sizeBytes = Number(reply.volume?.sizeBytes ?? this.sizeBytes);
    return this.sizeBytes;
  }

  /** The writer lease's fencing generation (0 when read-only). */
  get generation(): number {
    return this.ctx.lease?.generation ?? 0;
  }

  /** Reads `length` bytes at `offset`; never-written ranges read as zeroes. */
  read(offset: number, length: number): Promise<Buffer> {
    return this.measure('read', length, () => this.readNow(offset, length));
  }

  private async readNow(offset: number, length: number): Promise<Buffer> {
    const growing = this.checkRange(offset, length, 'read');
    if (growing !== undefined) await growing;
    return this.ctx.cipher === undefined ? this.readStored(offset, length) : this.readPlain(this.ctx.cipher, offset, length);
  }

  /** Reads whole blocks around the range, decrypts them and returns the range. */
  private async readPlain(cipher: BlockCipher, offset: number, length: number): Promise<Buffer> {
    const { first, end } = wholeBlocks(offset, length);
    const plain = cipher.decryptInPlace(await this.readStored(first, end - first), first / blockBytes);
    return first === offset && end === offset + length ? plain : plain.subarray(offset - first, offset - first + length);
  }

  /** Reads the bytes as the chunk servers store them. */
  private async readStored(offset: number, length: number): Promise<Buffer> {
    const one = singleSlice(offset, length, this.extentSizeBytes, limits.ioRequestBytesMax);
    if (one !== undefined) return (await this.readSlice(one)) ?? Buffer.alloc(length);
    const slices = this.slices(offset, length);
    const out = Buffer.alloc(length);
    await Promise.all(slices.map(async (s) => {
      const data = await this.readSlice(s);
      if (data !== undefined) data.copy(out, s.bufferOffset);
    }));
    return out;
  }

  /** Writes `data` at `offset`. With `fua` the data is on stable storage on every replica when this resolves. */
  write(offset: number, data: Uint8Array, options: { fua?: boolean } = {}): Promise<void> {
    return this.gated(() => this.measure('write', data.length, () => this.writeNow(offset, data, options)));
  }

  private async writeNow(offset: number, data: Uint8Array, options: { fua?: boolean }): Promise<void> {
    this.checkWritable();
    const growing = this.checkRange(offset, data.length, 'write');
    if (growing !== undefined) await growing;
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
    this.maybeAllocateAhead(offset, buf.length);
    const fua = options.fua === true;
    const copying = this.copyLocks;
    if (copying !== undefined) {
      const { first, end } = wholeBlocks(offset, buf.length);
      return copying.with(first, end, () => this.writeBlocks(offset, buf, fua));
    }
    return this.writeBlocks(offset, buf, fua);
  }

  /**
   * With ctx.allocateAhead: a write that continues the previous one near its extent's end asks
   * metad for the next extent in the background (allocate-ahead.ts), unless the map holds it
   * already; the write into that extent shares the call (ExtentMap.allocate), or asks again if it
   * failed.
   */
  private maybeAllocateAhead(offset: number, length: number): void {
    if (this.ctx.allocateAhead !== true) return;
    const previousEnd = this.lastWriteEnd;
    this.lastWriteEnd = offset + length;
    const next = allocateAheadIndex({ previousEnd, offset, length, extentSizeBytes: this.extentSizeBytes, volumeSizeBytes: this.sizeBytes, aheadBytes: limits.clientAllocateAheadBytes });
    if (next === undefined || this.map.known(next) !== undefined) return;
    this.map.allocate(next).catch(() => undefined);
  }

  private async writeBlocks(offset: number, buf: Buffer, fua: boolean): Promise<void> {
    if (this.parent !== undefined && (offset % blockBytes !== 0 || (offset + buf.length) % blockBytes !== 0)) {
      // A clone's partial block: a chunk server would merge it with zeros where the parent has data.
      const a = Math.floor(offset / blockBytes) * blockBytes;
      const whole = await this.readNow(a, Math.ceil((offset + buf.length) / blockBytes) * blockBytes - a);
      buf.copy(whole, offset - a);
      [offset, buf] = [a, whole];
    }
    return this.writeOut(offset, buf, fua);
  }

  /** Writes the bytes, encrypted when the volume is (which read-modify-writes a partial block). */
  private writeOut(offset: number, buf: Buffer, fua: boolean): Promise<void> {
    if (this.ctx.cipher !== undefined) return this.writeEncrypted(this.ctx.cipher, offset, buf, fua);
    return this.writeStored(offset, buf, fua);
  }

  /**
   * Encrypts and writes whole blocks; the blocks at either end that the write covers only in part
   * are read and decrypted first, under the lock of the blocks written.
   */
  private writeEncrypted(cipher: BlockCipher, offset: number, data: Buffer, fua: boolean): Promise<void> {
    const { first, end } = wholeBlocks(offset, data.length);
    return this.blockLocks.with(first, end, async () => {
      if (first === offset && end === offset + data.length) return this.writeStored(first, cipher.encrypt(data, first / blockBytes), fua);
      const plain = Buffer.alloc(end - first);
      const headPartial = offset !== first;
      if (headPartial) (await this.readPlain(cipher, first, blockBytes)).copy(plain, 0);
      const tailPartial = offset + data.length !== end;
      if (tailPartial && !(headPartial && end - blockBytes === first)) (await this.readPlain(cipher, end - blockBytes, blockBytes)).copy(plain, end - blockBytes - first);
      data.copy(plain, offset - first);
      return this.writeStored(first, cipher.encrypt(plain, first / blockBytes), fua);
    });
  }

  /** Writes the bytes as the chunk servers store them. */
  private async writeStored(offset: number, buf: Buffer, fua: boolean): Promise<void> {
    const one = singleSlice(offset, buf.length, this.extentSizeBytes, limits.ioRequestBytesMax);
    if (one !== undefined) {
      await this.mutate(one, true, (conn, ref) => conn.write(ref, one.offset, buf, { fua }));
      return;
    }
    await Promise.all(this.slices(offset, buf.length).map((s) => this.mutate(s, true, (conn, ref) =>
      conn.write(ref, s.offset, buf.subarray(s.bufferOffset, s.bufferOffset + s.length), { fua }))));
  }

  /** Makes every write acknowledged so far durable on every replica (fdatasync on all of them). */
  flush(): Promise<void> {
    return this.measure('flush', 0, () => this.flushNow());
  }

  private async flushNow(): Promise<void> {
    this.checkOpen();
    const extents = [...this.dirty];
    this.dirty.clear();
    try {
      await Promise.all(extents.map((index) => this.flushExtent(index)));
    } catch (err) {
      for (const index of extents) this.dirty.add(index);
      throw err;
    }
  }

  /**
   * Flushes one extent: a LOCAL FLUSH to every member of its set at once (one hop instead of the
   * primary's two), and when that does not succeed at every member, the plain FLUSH through the
   * primary (mutate), which follows epochs and has the primary (and metad) decide about a member
   * that does not answer. The SDK itself never reports a member from a failed LOCAL flush.
   *
   * Done only when flushedEverywhere() (its invariant). That covers every write acknowledged before it:
   * each was acknowledged at the map's epoch or an older one (a write the primary served while
   * moving the set on answers with the newer epoch, and mutate() re-reads the map before
   * acknowledging it), and the primary acknowledges a write only once every member of its set
   * applied it, so the write is in each member's file (or reached a newcomer by the rebuild's
   * COPY, as for the primary's flush) where that member's fdatasync covers it, whatever
   * connection the FLUSH came on. Any refusal sends the flush down the primary path, which
   * re-reads the map.
   */
  private async flushExtent(index: number): Promise<void> {
    const info = this.map.known(index) ?? await this.map.lookup(index);
    if (info === undefined) return;
    const failure = await this.flushMembers(info);
    if (failure === undefined) return;
    this.ctx.metrics?.recordFlushFallback(this.name, failure);
    await this.mutate({ index, offset: 0, length: 0, bufferOffset: 0 }, false, (conn, ref) => conn.flush(ref), false);
  }

  /**
   * A LOCAL FLUSH to every member in parallel (the pool connects, and AUTH goes first, where it
   * has no connection yet), waiting at most limits.chunkReplicaTimeoutMs, as a primary waits for
   * a member: undefined when every member answered OK at the map's epoch, else why not (the first
   * failure's error code, 'epoch' for an OK at another epoch or from a server holding no replica,
   * 'wait' when the bound passed).
   */
  private async flushMembers(info: ExtentInfo): Promise<string | undefined> {
    const ref = this.ref(info);
    const sent = Promise.all(info.replicas.map(async (r) => {
      const conn = this.ctx.pool.ready(r.address) ?? await this.ctx.pool.get(r.address);
      return (await conn.flush(ref, { local: true })).epoch;
    }));
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'wait'>((resolve) => {
      timer = setTimeout(() => resolve('wait'), limits.chunkReplicaTimeoutMs);
    });
    try {
      const answers = await Promise.race([sent, waited]);
      if (answers === 'wait') return 'wait';
      return flushedEverywhere(answers, info.replicas.length, info.epoch) ? undefined : 'epoch';
    } catch (err) {
      if (!(err instanceof BasaltError)) throw err;
      return err.code;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Discards a range; it reads as zeroes afterwards. Never-written extents are left alone. */
  trim(offset: number, length: number): Promise<void> {
    return this.gated(() => this.measure('trim', length, () => this.zeroRange(offset, length, false, (conn, ref, s) => conn.trim(ref, s.offset, s.length))));
  }

  /**
   * Makes a range read as zeroes (chunk servers punch holes, so it is fast either way). Never-written
   * extents already read as zeroes and stay holes unless `allocate` asks for them to be allocated.
   */
  writeZeroes(offset: number, length: number, options: { allocate?: boolean } = {}): Promise<void> {
    return this.gated(() => this.measure('write_zeroes', length, () => this.zeroRange(offset, length, options.allocate === true, (conn, ref, s) => conn.writeZeroes(ref, s.offset, s.length))));
  }

  /**
   * Takes a snapshot (docs/snapshots.md), crash-consistent at this point of the writer's stream:
   * it holds every write, trim and write-zeroes that resolved before this call and none called
   * after it. Writer only. Mutations called meanwhile wait; those in flight are waited for; then
   * metad records the snapshot ('creating'), every allocated extent's primary takes it in the
   * extent's write stream (SNAPSHOT, O(1): nothing is copied), and metad marks it 'ready'.
   * BASALT_SNAPSHOT_EXISTS when the name is taken.
   */
  snapshot(name: string): Promise<SnapshotInfo> {
    return this.takeSnapshot(name, false);
  }

  /**
   * @internal Takes a snapshot someone asked this lease holder for (holder-requests.ts), as
   * snapshot() takes one; BASALT_SNAPSHOT_NOT_FOUND when the request was cancelled meanwhile.
   */
  takeRequestedSnapshot(name: string): Promise<SnapshotInfo> {
    return this.takeSnapshot(name, true);
  }

  private async takeSnapshot(name: string, requested: boolean): Promise<SnapshotInfo> {
    this.checkWritable();
    while (this.barrier !== undefined) await this.barrier;
    let release!: () => void;
    this.barrier = new Promise<void>((resolve) => (release = resolve));
    try {
      await Promise.allSettled([...this.inflight]);
      const snap = snapshotFromPb((await this.ctx.meta.call('createSnapshot', { volume: this.name, name, requested })).snapshot);
      try {
        await Promise.all(snap.extents.map((index) => this.mutate({ index, offset: 0, length: 0, bufferOffset: 0 }, false, (conn, ref) => conn.snapshot(ref, snap.id))));
      } catch (err) {
        // Undo what was taken: metad's record, then the marks of the extents that got one.
        await this.ctx.meta.call('deleteSnapshot', { volume: this.name, name }).then(() => this.dropSnapshot(snap.id, snap.extents)).catch(() => undefined);
        throw err;
      }
      return snapshotFromPb((await this.ctx.meta.call('commitSnapshot', { volume: this.name, name })).snapshot);
    } finally {
      this.barrier = undefined;
      release();
    }
  }

  /**
   * The whole-block ranges (coalesced, each at most limits.ioRequestBytesMax) whose contents differ
   * between snapshot `from` (undefined: a volume never written) and what this Volume reads (its
   * snapshot, or now), from block stamps alone (SNAPSHOT_DIFF): no data is read. Of a clone only
   * the blocks it wrote itself.
   */
  async changedRanges(from: { readonly id: number; readonly extents: readonly number[] } | undefined): Promise<BlockRange[]> {
    this.checkOpen();
    const out: BlockRange[] = [];
    const step = limits.snapshotDiffBlocksMax * blockBytes;
    for (const index of await this.extentsHeld()) {
      const fromId = from !== undefined && from.extents.includes(index) ? from.id : 0;
      for (let pos = 0; pos < this.extentSizeBytes; pos += step) {
        const len = Math.min(step, this.extentSizeBytes - pos);
        const blocks = await this.fromReadable(index, (conn, ref) => conn.snapshotDiff(ref, fromId, this.ctx.at?.id ?? 0, pos, len));
        for (const b of blocks ?? []) {
          const offset = index * this.extentSizeBytes + b * blockBytes;
          const last = out[out.length - 1];
          if (last !== undefined && last.offset + last.length === offset && last.length < limits.ioRequestBytesMax) out[out.length - 1] = { offset: last.offset, length: last.length + blockBytes };
          else out.push({ offset, length: blockBytes });
        }
      }
    }
    return out;
  }

  /**
   * @internal Drops snapshot `id` on the chunk servers of `extents` (after metad removed its
   * record, under the grant metad signs for that: GrantSnapshotDrop): each primary frees what only
   * it held and forwards to its members. A server that holds no such snapshot has nothing to free.
   */
  async dropSnapshot(id: number, extents: readonly number[]): Promise<void> {
    const grant = Buffer.from((await this.ctx.meta.call('grantSnapshotDrop', { volume: this.name, snapshotId: id })).grant);
    const granted = (ref: ExtentRef): ExtentRef => (grant.length === 0 ? ref : { ...ref, auth: [...(ref.auth ?? []), grant] });
    await Promise.all(extents.map((index) => this.mutate({ index, offset: 0, length: 0, bufferOffset: 0 }, false, (conn, ref) => conn.snapshotDelete(granted(ref), id)).catch((err: unknown) => {
      if (!(err instanceof BasaltError && err.code === ErrorCode.SnapshotNotFound)) throw err;
    })));
  }

  /**
   * @internal A clone's flatten in the foreground (BasaltClient.flattenVolume, with the lease to
   * itself): writes every block this clone never wrote and its parent holds as non-zero, in
   * whole-block runs, so that nothing is left to read through. Writer only. Resolves with the
   * bytes copied. The blocks are copied as stored: an encrypted clone's are ciphertext under the
   * key it shares with its parent.
   */
  async copyParentBlocks(progress?: (done: number, total: number) => void): Promise<number> {
    this.checkWritable();
    let copied = 0;
    for (let at = 0; this.parent !== undefined && at < this.sizeBytes;) {
      const length = this.copyStep(at, limits.ioRequestBytesMax);
      copied += await this.copyRange(at, length);
      at += length;
      progress?.(at, this.sizeBytes);
    }
    return copied;
  }

  /**
   * @internal A clone's flatten in the background, while the clone is written
   * (holder-requests.ts): copies as copyParentBlocks does, limits.repairCopyRunBytesMax at a time
   * under a token bucket of `bytesPerSec`, each run ordered in the writer's stream (a snapshot
   * waits for it) and under a lock of its blocks that the clone's own writes take too, so a
   * block the clone writes meanwhile is never overwritten by its parent's copy (the run reads
   * which blocks the clone wrote under that lock). `report` gets the progress after each run and
   * stops the copy by answering false; so does `signal`. Flushes at the end. Resolves with
   * whether it copied everything.
   */
  async flattenInBackground(bytesPerSec: number, signal: AbortSignal, report: (done: number, total: number) => Promise<boolean>): Promise<boolean> {
    this.checkWritable();
    const locks = new BlockRangeLocks();
    this.copyLocks = locks;
    try {
      // Writes called before the locks existed took none: wait for them.
      await Promise.allSettled([...this.inflight]);
      const bucket = new TokenBucket(bytesPerSec, limits.repairBurstBytes, performance.now());
      for (let at = 0; this.parent !== undefined && at < this.sizeBytes;) {
        const length = this.copyStep(at, limits.repairCopyRunBytesMax);
        const waitMs = bucket.reserve(length, performance.now());
        if (waitMs > 0) await sleep(waitMs, undefined, { signal });
        if (signal.aborted) return false;
        await this.gated(() => locks.with(at, at + length, () => this.copyRange(at, length)));
        at += length;
        if (!(await report(at, this.sizeBytes))) return false;
      }
      await this.flush();
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      throw err;
    } finally {
      this.copyLocks = undefined;
    }
  }

  /**
   * @internal Ends a flattened clone's read-through: FlattenVolume in metad, then the parent
   * snapshot's layers are freed when it was deleted and this was its last clone. Reads and writes
   * stop going through the parent.
   */
  async endReadThrough(): Promise<VolumeInfo> {
    const parent = this.parent;
    const volume = volumeFromPb((await this.ctx.meta.call('flattenVolume', { name: this.name })).volume);
    if (parent?.ctx.at === undefined) return volume;
    const held = parent.ctx.at;
    this.parent = undefined;
    const still = (await this.ctx.meta.call('listSnapshots', { volume: parent.name, includeHidden: true })).snapshots.some((x) => Number(x.id) === held.id);
    if (!still) await parent.dropSnapshot(held.id, [...held.extents]);
    await parent.close();
    return volume;
  }

  /** The length of the copy run at `at`: at most `max`, inside one extent and the volume. */
  private copyStep(at: number, max: number): number {
    return Math.min(max, this.extentSizeBytes - (at % this.extentSizeBytes), this.sizeBytes - at);
  }

  /**
   * Writes the blocks of [at, at + length) (whole blocks in one extent) that this clone never
   * wrote (SNAPSHOT_DIFF from nothing) and its parent holds as non-zero; returns the bytes written.
   */
  private async copyRange(at: number, length: number): Promise<number> {
    const index = Math.floor(at / this.extentSizeBytes);
    const pos = at % this.extentSizeBytes;
    const written = new Set((await this.fromReadable(index, (conn, ref) => conn.snapshotDiff(ref, 0, 0, pos, length))) ?? []);
    const under = await this.parentSlice({ index, offset: pos, length, bufferOffset: 0 });
    if (under === undefined) return 0;
    let copied = 0;
    let run = -1;
    for (let b = 0; b <= length / blockBytes; b++) {
      const take = b < length / blockBytes && !written.has(pos / blockBytes + b) && under.subarray(b * blockBytes, (b + 1) * blockBytes).some((x) => x !== 0);
      if (take && run < 0) run = b;
      if (take || run < 0) continue;
      await this.writeStored(at + run * blockBytes, under.subarray(run * blockBytes, b * blockBytes), false);
      copied += (b - run) * blockBytes;
      run = -1;
    }
    return copied;
  }

  /** The extents this view holds: a snapshot's, or the allocated ones. */
  private async extentsHeld(): Promise<number[]> {
    if (this.ctx.at !== undefined) return [...this.ctx.at.extents].sort((a, b) => a - b);
    const held: number[] = [];
    for (let index = 0; index * this.extentSizeBytes < this.sizeBytes; index++) if ((await this.map.lookup(index)) !== undefined) held.push(index);
    return held;
  }

  /** Runs a mutation after any snapshot being taken, and lets a snapshot wait for it. */
  private gated<T>(run: () => Promise<T>): Promise<T> {
    const p = this.barrier === undefined ? run() : this.barrier.then(run);
    this.inflight.add(p);
    const done = (): void => {
      this.inflight.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /**
   * Which parts of [offset, offset + length) hold data and which are holes (read as zeroes). By
   * default per 4 KiB block: an allocated extent's chunk server reports each block's stamp and
   * CRC (STAMPS), and a block never written or holding only zeroes (trimmed, punched) is a hole.
   * `{ blocks: false }` answers per extent from the extent map alone, without asking a chunk server.
   * A clone or a snapshot reports data everywhere (docs/snapshots.md).
   */
  async allocation(offset: number, length: number, options: { blocks?: boolean } = {}): Promise<AllocationRun[]> {
    const growing = this.checkRange(offset, length, 'allocation');
    if (growing !== undefined) await growing;
    const runs: AllocationRun[] = [];
    const add = (run: AllocationRun): void => {
      if (run.length === 0) return;
      const last = runs[runs.length - 1];
      if (last !== undefined && last.hole === run.hole) runs[runs.length - 1] = { ...last, length: last.length + run.length };
      else runs.push(run);
    };
    // A clone's holes may show its parent's data, and a snapshot's blocks are not the head's
    // stamps: both report data everywhere (a reader never skips what it must copy).
    if (this.parent !== undefined || this.ctx.at !== undefined) return [{ offset, length, hole: false }];
    for (const s of splitByExtent(offset, length, this.extentSizeBytes)) {
      const base = offset + s.bufferOffset - s.offset;
      const allocated = (await this.map.lookup(s.index)) !== undefined;
      const blocks = allocated && options.blocks !== false ? await this.blockRunsOf(s) : undefined;
      if (blocks === undefined) add({ offset: base + s.offset, length: s.length, hole: !allocated });
      else for (const r of blocks) add({ offset: base + r.offset, length: r.length, hole: r.hole });
    }
    return runs;
  }

  /** Per-block runs of one slice of an allocated extent (offsets within the extent); undefined when it is not allocated. */
  private async blockRunsOf(s: ExtentSlice): Promise<BlockRun[] | undefined> {
    const block = limits.checksumBlockBytes;
    const first = Math.floor(s.offset / block) * block;
    const end = Math.ceil((s.offset + s.length) / block) * block;
    const stamps = await this.fromReadable(s.index, (conn, ref) => conn.stamps(ref, first, end - first));
    return stamps === undefined ? undefined : blockRuns(stamps, first, block, zeroBlockCrc, s.offset, s.offset + s.length);
  }

  /** Flushes, releases the writer lease and closes. No call may follow. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.requests?.stop();
    await this.parent?.close();
    try {
      if (this.writable) await this.flush();
    } finally {
      this.closed = true;
      const lease = this.ctx.lease;
      if (lease !== undefined) {
        await this.ctx.meta.call('releaseLease', { volume: this.name, clientId: lease.clientId, generation: lease.generation }).catch((err: unknown) => {
          // A writer fenced by a takeover no longer holds the lease: nothing to release.
          if (!(err instanceof BasaltError && (err.code === ErrorCode.LeaseFenced || err.code === ErrorCode.LeaseConflict))) throw err;
        });
      }
    }
  }

  /** Runs one op and counts its outcome and latency in the client's metrics, if it keeps any. */
  private async measure<T>(op: ClientOpName, bytes: number, run: () => Promise<T>): Promise<T> {
    const metrics = this.ctx.metrics;
    if (metrics === undefined) return run();
    const start = performance.now();
    try {
      const result = await run();
      metrics.record(this.name, op, bytes, (performance.now() - start) / 1000);
      return result;
    } catch (err) {
      metrics.record(this.name, op, bytes, 0, err);
      throw err;
    }
  }

  private async zeroRange(offset: number, length: number, allocate: boolean, op: (conn: DataConnection, ref: ExtentRef, s: ExtentSlice) => Promise<IoResult>): Promise<void> {
    this.checkWritable();
    const growing = this.checkRange(offset, length, 'zero');
    if (growing !== undefined) await growing;
    if (this.parent !== undefined) {
      // A clone writes its zeros: a trim of a block it never wrote would leave the parent's data showing.
      for (let pos = offset; pos < offset + length; pos += limits.ioRequestBytesMax) await this.writeNow(pos, Buffer.alloc(Math.min(limits.ioRequestBytesMax, offset + length - pos)), {});
      return;
    }
    const cipher = this.ctx.cipher;
    if (cipher === undefined) return this.zeroStored(offset, length, allocate, op);
    // Whole blocks are zeroed on the chunk servers (stored zeroes read as zeroes); the parts of
    // blocks at either end are written as encrypted zeroes.
    const first = Math.min(offset + length, Math.ceil(offset / blockBytes) * blockBytes);
    const end = Math.max(first, Math.floor((offset + length) / blockBytes) * blockBytes);
    await Promise.all([
      this.zeroPart(cipher, offset, first - offset),
      end > first ? this.blockLocks.with(first, end, () => this.zeroStored(first, end - first, allocate, op)) : undefined,
      this.zeroPart(cipher, end, offset + length - end),
    ]);
  }

  private async zeroStored(offset: number, length: number, allocate: boolean, op: (conn: DataConnection, ref: ExtentRef, s: ExtentSlice) => Promise<IoResult>): Promise<void> {
    await Promise.all(this.slices(offset, length).map((s) => this.mutate(s, allocate, (conn, ref) => op(conn, ref, s))));
  }

  /** Zeroes part of one block of an encrypted volume; nothing is written when it reads as zeroes already (never written, trimmed). */
  private async zeroPart(cipher: BlockCipher, offset: number, length: number): Promise<void> {
    if (length === 0) return;
    const block = Math.floor(offset / blockBytes) * blockBytes;
    await this.blockLocks.with(block, block + blockBytes, async () => {
      const plain = await this.readPlain(cipher, block, blockBytes);
      const at = offset - block;
      if (plain.subarray(at, at + length).every((b) => b === 0)) return;
      plain.fill(0, at, at + length);
      await this.writeStored(block, cipher.encrypt(plain, block / blockBytes), false);
    });
  }

  /** Slices no larger than one data-plane request. */
  private slices(offset: number, length: number): ExtentSlice[] {
    const out: ExtentSlice[] = [];
    for (const s of splitByExtent(offset, length, this.extentSizeBytes)) {
      for (let done = 0; done < s.length; done += limits.ioRequestBytesMax) {
        const n = Math.min(limits.ioRequestBytesMax, s.length - done);
        out.push({ index: s.index, offset: s.offset + done, length: n, bufferOffset: s.bufferOffset + done });
      }
    }
    return out;
  }

  /**
   * Runs a mutation (write, trim, write-zeroes, flush) on the extent's primary, following epoch
   * changes and reporting an unresponsive primary to metad, within clientIoAttemptsMax attempts.
   * `dirties`: the extent needs a flush once it is applied (false for the flush itself).
   */
  private async mutate(s: ExtentSlice, allocate: boolean, op: (conn: DataConnection, ref: ExtentRef) => Promise<IoResult>, dirties = true): Promise<void> {
    // known() and ready() answer the common case without a promise turn each.
    let info = this.map.known(s.index) ?? await this.map.lookup(s.index);
    if (info === undefined) {
      if (!allocate) return;
      info = await this.map.allocate(s.index);
    }
    const start = this.ctx.metrics === undefined ? 0 : performance.now();
    let path: MutationPath = 'plain';
    let last: BasaltError | undefined;
    let timeouts = 0;
    // The last failure brought a newer set (a re-read, a failover): send to it at once, without the backoff.
    let newer = false;
    for (let attempt = 0; attempt < limits.clientIoAttemptsMax; attempt++) {
      if (attempt > 0 && !newer) await backoff(attempt);
      const primary = info.replicas[0];
      if (primary === undefined) throw new BasaltError(ErrorCode.Unavailable, `extent ${s.index} of volume ${this.name} has no replica left`, { volume: this.name, index: s.index });
      try {
        const conn = this.ctx.pool.ready(primary.address) ?? await this.ctx.pool.get(primary.address);
        const res = await op(conn, this.ref(info));
        if (dirties) this.dirty.add(s.index);
        // The primary changed the set while serving this (it dropped a member that failed): re-read
        // it before acknowledging, or a later read could fall over to the dropped member, which
        // does not know it was dropped and serves what it has at the old epoch.
        if (res.epoch > info.epoch) {
          path = worsePath(path, 'set_changed');
          await this.map.refresh(s.index);
        }
        this.ctx.metrics?.recordMutation(this.name, path, (performance.now() - start) / 1000);
        return;
      } catch (err) {
        if (!(err instanceof BasaltError)) throw err;
        timeouts = err.code === ErrorCode.Timeout ? timeouts + 1 : 0;
        last = err;
        // A slow primary (a loaded machine) gets a second chance before it is dropped from the set.
        const action = timeouts === 1 ? 'resend' : mutationFailover(err);
        path = worsePath(path, pathOf(action));
        const next = await this.afterMutationError(err, action, info, primary);
        newer = next.epoch > info.epoch;
        info = next;
      }
    }
    throw last ?? new BasaltError(ErrorCode.Unavailable, `extent ${s.index} of volume ${this.name}: no attempt was made`);
  }

  private async afterMutationError(err: BasaltError, action: MutationAction, info: ExtentInfo, primary: ReplicaRef): Promise<ExtentInfo> {
    if (action === 'refresh') {
      // A refusal of our epoch may carry the newer set, signed by metad: no metad read then.
      const state = err.code === ErrorCode.StaleEpoch ? err.details.signedState : undefined;
      const carried = Buffer.isBuffer(state) ? this.map.adoptSignedState(this.id, info.index, state) : undefined;
      return carried ?? this.mustRefresh(info.index);
    }
    if (action === 'resend') return info;
    if (action === 'throw') throw err;
    const next = await this.map.reportFailed(info, primary.serverId, err.code === ErrorCode.Timeout ? 'timeout' : 'unreachable');
    if (next === undefined) throw err;
    if (next.epoch !== info.epoch) this.ctx.onEvent({ kind: 'replica_dropped', volume: this.name, index: info.index, serverId: primary.serverId, epoch: next.epoch });
    return next;
  }

  /**
   * Reads one slice (as of the snapshot, if this is one): undefined when it reads as zeros. A
   * clone reads the blocks it never wrote (SNAPSHOT_DIFF from nothing, asked before the read)
   * from its parent.
   */
  private async readSlice(s: ExtentSlice): Promise<Buffer | undefined> {
    const at = this.ctx.at;
    if (at !== undefined && !at.extents.has(s.index)) return this.parentSlice(s);
    const first = Math.floor(s.offset / blockBytes) * blockBytes;
    const end = Math.ceil((s.offset + s.length) / blockBytes) * blockBytes;
    const written = this.parent === undefined ? undefined : await this.fromReadable(s.index, (conn, ref) => conn.snapshotDiff(ref, 0, at?.id ?? 0, first, end - first));
    const own = await this.fromReadable(s.index, async (conn, ref) => (at === undefined ? await conn.read(ref, s.offset, s.length) : await conn.snapshotRead(ref, at.id, s.offset, s.length)).data);
    if (this.parent === undefined) return own;
    if (own === undefined || written === undefined) return this.parentSlice(s);
    if (written.length === (end - first) / blockBytes) return own;
    const under = await this.parentSlice(s);
    if (under === undefined) return own;
    const mine = new Set(written);
    for (let b = first / blockBytes; b < end / blockBytes; b++) {
      if (mine.has(b)) continue;
      const a = Math.max(b * blockBytes, s.offset) - s.offset;
      under.copy(own, a, a, Math.min((b + 1) * blockBytes, s.offset + s.length) - s.offset);
    }
    return own;
  }

  /**
   * A slice as the clone's parent stores it (zeros past the parent's end); undefined without a
   * parent. An encrypted clone shares its parent's key and block indexes, so the parent's
   * ciphertext is the clone's.
   */
  private async parentSlice(s: ExtentSlice): Promise<Buffer | undefined> {
    const parent = this.parent;
    if (parent === undefined) return undefined;
    const at = s.index * this.extentSizeBytes + s.offset;
    const out = Buffer.alloc(s.length);
    const n = Math.max(0, Math.min(s.length, parent.size - at));
    if (n > 0) (await parent.readStored(at, n)).copy(out);
    return out;
  }

  /**
   * Runs a read-only op (READ, STAMPS) on the extent's active members in turn, following epoch
   * changes and failing over on unreachable members and bad checksums: undefined when the extent
   * is not allocated.
   */
  private async fromReadable<T>(index: number, op: (conn: DataConnection, ref: ExtentRef) => Promise<T>): Promise<T | undefined> {
    let info = this.map.known(index) ?? await this.map.lookup(index);
    let last: BasaltError | undefined;
    let newer = false;
    for (let attempt = 0; info !== undefined && attempt < limits.clientIoAttemptsMax; attempt++) {
      if (attempt > 0 && !newer) await backoff(attempt);
      newer = false;
      const replica = info.readable[attempt % Math.max(1, info.readable.length)];
      if (replica === undefined) break;
      try {
        const conn = this.ctx.pool.ready(replica.address) ?? await this.ctx.pool.get(replica.address);
        return await op(conn, this.ref(info));
      } catch (err) {
        if (!(err instanceof BasaltError)) throw err;
        last = err;
        if (err.code === ErrorCode.StaleEpoch || err.code === ErrorCode.Unauthenticated) {
          const epoch = info.epoch;
          info = await this.map.refresh(index);
          newer = info !== undefined && info.epoch > epoch;
        } else if (err.code === ErrorCode.Checksum) this.ctx.onEvent({ kind: 'checksum_error', volume: this.name, index, serverId: replica.serverId });
        else if (!failoverCodes.has(err.code)) throw err;
      }
    }
    if (info === undefined) return undefined;
    throw last ?? new BasaltError(ErrorCode.Unavailable, `no replica of extent ${index} of volume ${this.name} answered`);
  }

  private async mustRefresh(index: number): Promise<ExtentInfo> {
    const info = await this.map.refresh(index);
    if (info === undefined) throw new BasaltError(ErrorCode.Io, `extent ${index} of volume ${this.name} vanished from the extent map`, { volume: this.name, index });
    return info;
  }

  private ref(info: ExtentInfo): ExtentRef {
    return { volumeId: this.id, index: info.index, extentSizeBytes: this.extentSizeBytes, epoch: info.epoch, generation: this.generation, replicas: info.replicas, auth: this.map.auth(info) };
  }

  private checkOpen(): void {
    if (this.closed) throw new BasaltError(ErrorCode.Closed, `volume ${this.name} is closed`, { volume: this.name });
  }

  private checkWritable(): void {
    this.checkOpen();
    if (!this.writable) throw new BasaltError(ErrorCode.ReadOnly, `volume ${this.name} is open read-only; open it with { writer: true } to write`, { volume: this.name });
  }

  /**
   * Checks a range without a promise turn when it lies inside the known size; one past the known
   * end returns the check after the volume read its size again (it may have grown).
   */
  private checkRange(offset: number, length: number, what: string): Promise<void> | undefined {
    this.checkOpen();
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) this.outOfRange(offset, length, what);
    if (offset + length <= this.sizeBytes) return undefined;
    return this.refreshSize().then((size) => {
      if (offset + length > size) this.outOfRange(offset, length, what);
    });
  }

  private outOfRange(offset: number, length: number, what: string): never {
    throw new BasaltError(ErrorCode.OutOfRange, `${what} of ${length} bytes at offset ${offset} is outside volume ${this.name} (${this.sizeBytes} bytes)`, { volume: this.name, offset, length, size: this.sizeBytes });
  }
}

/** The whole 4 KiB blocks that [offset, offset + length) touches, as [first, end) byte offsets. */
function wholeBlocks(offset: number, length: number): { first: number; end: number } {
  return { first: Math.floor(offset / blockBytes) * blockBytes, end: Math.ceil((offset + length) / blockBytes) * blockBytes };
}
