import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { BasaltError, ErrorCode, invalidArgument, isBasaltError, limits } from '@basalt/stdx';
import { MetaClient, type FramePool, type TransportSecurity } from '@basalt/wire';
import type { ClientMetrics } from './client-metrics.js';
import type { AuditEntry, DegradedExtent, TenantInfo, ExtentPlacement, Lease, Member, MemberStatus, RepairStatus, ServerInfo, SnapshotInfo, VolumeInfo } from './cluster-types.js';
import { applyDiff, checkDiff, exportDiff, uncoveredRanges, type TransferProgress } from './snapshot-transfer.js';
import { ConnectionPool } from './connection-pool.js';
import { syncRevocations } from './revocation-sync.js';
import { auditEntryFromPb, degradedFromPb, tenantFromPb, memberFromPb, memberStatusFromPb, placementFromPb, repairFromPb, serverFromPb, snapshotFromPb, volumeFromPb } from './from-pb.js';
import { Volume, type BlockRange, type VolumeEvent } from './volume.js';
import { FileKeyProvider } from './crypto/file-key-provider.js';
import type { KeyProvider } from './crypto/key-provider.js';
import { newVolumeKey, volumeBlockCipher } from './crypto/volume-key.js';
import type { BlockCipher } from './crypto/block-cipher.js';

export interface ConnectOptions {
  /** host:port of one or more metad members. */
  metad: readonly string[];
  /** Names this client as a lease holder; default host/pid/random. */
  clientId?: string;
  /** Timeout of one data-plane request (ms). */
  requestTimeoutMs?: number;
  /** Total time one metadata call may take across retries (ms). */
  metaTimeoutMs?: number;
  /** Failovers and bad replicas the client worked around, for logs and metrics. */
  onEvent?: (event: VolumeEvent) => void;
  /** Per-volume op metrics (ClientMetrics); none are kept without it. */
  metrics?: ClientMetrics;
  /**
   * Wraps and unwraps encrypted volumes' data keys (docs/security.md). Default: a
   * FileKeyProvider of the file BASALT_KEK_FILE names, if set; without one, encrypted volumes
   * can be neither created nor opened (BASALT_KEY_UNAVAILABLE), plaintext ones work as ever.
   */
  keyProvider?: KeyProvider;
  /**
   * Mutual TLS to metad and the chunk servers (`TransportSecurity.fromFiles({ ca, cert, key })`);
   * default plain TCP, for clusters run with --insecure.
   */
  security?: TransportSecurity;
  /**
   * Recycled memory for large replies. With it, the Buffer a plaintext read returns may be a view
   * into pooled memory; the caller may give it back (`framePool.give(data)`) once nothing reads it
   * any more, and a later read reuses it (fewer fresh 1 MiB buffers, so fewer garbage
   * collections). A buffer never given back is ordinary garbage.
   */
  framePool?: FramePool;
}

export interface OpenOptions {
  /** Take the volume's writer lease (default false: read-only). */
  writer?: boolean;
  /** With writer: take the lease even if another client holds it; that client is fenced. */
  force?: boolean;
  /**
   * With writer: answer requests to the lease holder while open (default true): snapshots others
   * ask for (BasaltClient.createSnapshot while this writer holds the lease), taken in this
   * writer's stream as Volume.snapshot takes them, and a background flatten of a clone
   * (requestFlatten). docs/snapshots.md, "Requests to the lease holder".
   */
  serveRequests?: boolean;
  /**
   * With writer: a write that continues the previous one near its extent's end asks metad for the
   * next extent in the background (default false; the NBD agent sets it). Sequential writers then
   * do not wait for metad at each extent boundary; a writer that stops near a boundary leaves at
   * most one extent allocated and never written. docs/data-path.md, "The first write of an extent".
   */
  allocateAhead?: boolean;
}

export interface CreateSnapshotOptions {
  /**
   * When another writer holds the lease: how long to wait for it to take the snapshot asked of it
   * (default limits.clientHolderRequestWaitMsDefault); then the request is cancelled and
   * BASALT_HOLDER_TIMEOUT thrown.
   */
  timeoutMs?: number;
  /** Told the request's state ('requested', 'creating') while waiting for the lease holder, and who holds the lease. */
  onWaiting?: (state: SnapshotInfo['state'], holder: string) => void;
}

export interface CreateVolumeOptions {
  sizeBytes: number;
  extentSizeBytes?: number;
  replicationFactor?: number;
  /** Encrypt every block in this client with a new data key, wrapped by the client's key provider (default false). */
  encrypt?: boolean;
  /**
   * The owning tenant. Absent: the caller's own (a client certificate's), or "default" (an
   * admin's). A client may name only its own; BASALT_QUOTA_EXCEEDED past the tenant's quotas.
   */
  tenant?: string;
}

export interface CreateTenantOptions {
  /** Quota on the sum of the tenant's volume sizes; absent or 0: none. */
  maxBytes?: number;
  /** Quota on the number of the tenant's volumes; absent or 0: none. */
  maxVolumes?: number;
}

/** Connects to a Basalt cluster. Nothing is sent until the first call. */
export function connect(options: ConnectOptions): BasaltClient {
  if (!Array.isArray(options.metad) || options.metad.length === 0) throw invalidArgument('connect() needs { metad: ["host:port", ...] } with at least one address');
  return new BasaltClient(options);
}

export interface SetLabelOptions {
  /** Compare-and-set: the label must have exactly this value now ('' means absent), else BASALT_COMPARE_FAILED. */
  expect?: string;
}

/**
 * A connection to one cluster: the whole control plane (volumes, labels, leases, chunk servers,
 * metad members, redundancy) and the data plane (openVolume). Every method throws BasaltErrors
 * with stable codes (docs/errors.md); the metad calls follow the leader and retry as MetaClient
 * does. Nothing is sent until the first call.
 */
export class BasaltClient {
  readonly clientId: string;
  private readonly meta: MetaClient;
  private readonly pool: ConnectionPool;
  private readonly stopRevocationSync: () => void;
  private readonly onEvent: (event: VolumeEvent) => void;
  private readonly metrics: ClientMetrics | undefined;
  private readonly keyProvider: KeyProvider | undefined;

  constructor(options: ConnectOptions) {
    this.clientId = options.clientId ?? `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
    if (this.clientId === '' || Buffer.byteLength(this.clientId) > limits.clientIdBytesMax) {
      throw invalidArgument(`clientId must be 1..${limits.clientIdBytesMax} bytes`);
    }
    this.meta = new MetaClient({ endpoints: options.metad, ...(options.security !== undefined && { security: options.security }), ...(options.metaTimeoutMs !== undefined && { callTimeoutMs: options.metaTimeoutMs }) });
    this.stopRevocationSync = options.security === undefined ? () => undefined : syncRevocations(this.meta, options.security);
    this.pool = new ConnectionPool(options.requestTimeoutMs ?? limits.clientRequestTimeoutMsDefault, options.security, options.framePool);
    this.onEvent = options.onEvent ?? (() => undefined);
    this.metrics = options.metrics;
    const kekFile = process.env.BASALT_KEK_FILE;
    this.keyProvider = options.keyProvider ?? (kekFile !== undefined && kekFile !== '' ? new FileKeyProvider(kekFile) : undefined);
  }

  // ---- volumes ----

  /**
   * Creates a volume (BASALT_VOLUME_EXISTS when the name is taken). With `encrypt`, a new data key
   * is wrapped for the id the volume will get (the next id, read first; if another volume took it
   * meanwhile, metad refuses and this tries again with the next one).
   */
  async createVolume(name: string, options: CreateVolumeOptions): Promise<VolumeInfo> {
    const request = { name, sizeBytes: options.sizeBytes, extentSizeBytes: options.extentSizeBytes ?? 0, replicationFactor: options.replicationFactor ?? 0, tenant: options.tenant ?? '' };
    if (options.encrypt !== true) return volumeFromPb((await this.meta.call('createVolume', request)).volume);
    for (let attempt = 1; ; attempt++) {
      const { nextVolumeId } = await this.meta.call('listVolumes', { limit: 1 });
      const volumeId = Number(nextVolumeId);
      const encryption = await newVolumeKey(this.keyProvider, { volumeId, volumeName: name });
      try {
        return volumeFromPb((await this.meta.call('createVolume', { ...request, encryption, expectedVolumeId: volumeId })).volume);
      } catch (err) {
        if (!(err instanceof BasaltError && err.code === ErrorCode.CompareFailed) || attempt >= limits.clientCreateEncryptedAttemptsMax) throw err;
      }
    }
  }

  /**
   * The volumes the caller may see, by name: a client's or an agent's own tenant's; an admin's
   * every tenant's, or only `tenant`'s.
   */
  async listVolumes(options: { limit?: number; tenant?: string } = {}): Promise<VolumeInfo[]> {
    const tenant = options.tenant ?? '';
    if (options.limit !== undefined) return (await this.meta.call('listVolumes', { limit: options.limit, tenant })).volumes.map(volumeFromPb);
    return (await this.meta.listAllVolumes({ tenant })).volumes.map(volumeFromPb);
  }

  /** One volume (BASALT_VOLUME_NOT_FOUND when there is none of that name). */
  async getVolume(name: string): Promise<VolumeInfo> {
    return volumeFromPb((await this.meta.call('getVolume', { name })).volume);
  }

  /**
   * Grows a volume to `sizeBytes` (whole extents) while it may be open and written: an open
   * Volume sees the new size at its first access past its old end, or at refreshSize(); the
   * agent's new NBD connections get it. A smaller size is refused with BASALT_SHRINK_NOT_ALLOWED;
   * with `force` it is allowed over never-written space only (still refused while any extent at or
   * past the new end holds data, with `details.firstAllocatedIndex`): a resize never discards data.
   */
  async resizeVolume(name: string, sizeBytes: number, options: { force?: boolean } = {}): Promise<VolumeInfo> {
    return volumeFromPb((await this.meta.call('resizeVolume', { name, sizeBytes, force: options.force === true })).volume);
  }

  /**
   * Deletes a volume; `force` deletes it even while a writer holds its lease. Chunk servers reclaim
   * its space. Refused (BASALT_VOLUME_BUSY) while clones of its snapshots exist. A clone's delete
   * also frees its parent snapshot's layers when that snapshot was deleted and this was its last clone.
   */
  async deleteVolume(name: string, options: { force?: boolean } = {}): Promise<void> {
    const { parent } = await this.getVolume(name);
    const held = parent === undefined ? undefined : (await this.listSnapshots(parent.volume, { includeHidden: true })).find((x) => x.id === parent.snapshotId);
    await this.meta.call('deleteVolume', { name, force: options.force === true });
    if (parent === undefined || held === undefined) return;
    const still = (await this.listSnapshots(parent.volume, { includeHidden: true })).some((x) => x.id === parent.snapshotId);
    if (!still) await this.dropSnapshotLayers(parent.volume, held);
  }

  // ---- snapshots and clones (docs/snapshots.md) ----

  /** A volume's snapshots, oldest first; `includeHidden` adds deleted ones kept for clones. */
  async listSnapshots(volume: string, options: { includeHidden?: boolean } = {}): Promise<SnapshotInfo[]> {
    return (await this.meta.call('listSnapshots', { volume, includeHidden: options.includeHidden === true })).snapshots.map(snapshotFromPb);
  }

  /** One snapshot (BASALT_SNAPSHOT_NOT_FOUND). */
  async getSnapshot(volume: string, name: string): Promise<SnapshotInfo> {
    const found = (await this.listSnapshots(volume)).find((x) => x.name === name);
    if (found === undefined) throw new BasaltError(ErrorCode.SnapshotNotFound, `volume ${volume} has no snapshot named ${JSON.stringify(name)}`, { volume, snapshot: name });
    return found;
  }

  /**
   * Snapshots a volume. Nobody writes it: takes its writer lease, takes the snapshot, releases the
   * lease. Another writer holds the lease: asks that writer through metad (RequestSnapshot; it
   * takes the snapshot in its own stream, so the snapshot holds every write it acknowledged before
   * it saw the request) and waits until the snapshot is ready; past `timeoutMs` a request the
   * holder has not taken is cancelled and BASALT_HOLDER_TIMEOUT thrown (docs/snapshots.md,
   * "Requests to the lease holder").
   */
  async createSnapshot(volume: string, name: string, options: CreateSnapshotOptions = {}): Promise<SnapshotInfo> {
    for (let attempt = 1; ; attempt++) {
      let v: Volume;
      try {
        v = await this.openVolume(volume, { writer: true, serveRequests: false });
      } catch (err) {
        if (!isBasaltError(err, ErrorCode.LeaseConflict)) throw err;
        try {
          return await this.snapshotByHolder(volume, name, options);
        } catch (refused) {
          // The holder let go of the lease between the two calls: take it after all.
          if (isBasaltError(refused, ErrorCode.NoLeaseHolder) && attempt < limits.clientHolderRequestAttemptsMax) continue;
          throw refused;
        }
      }
      try {
        return await v.snapshot(name);
      } finally {
        await v.close();
      }
    }
  }

  /** Asks the lease holder of `volume` for snapshot `name` and waits for it to be ready (createSnapshot). */
  private async snapshotByHolder(volume: string, name: string, options: CreateSnapshotOptions): Promise<SnapshotInfo> {
    await this.meta.call('requestSnapshot', { volume, name });
    const waitMs = options.timeoutMs ?? limits.clientHolderRequestWaitMsDefault;
    let deadline = Date.now() + waitMs;
    let taken = false;
    for (;;) {
      const snap = (await this.listSnapshots(volume)).find((x) => x.name === name);
      if (snap === undefined) throw new BasaltError(ErrorCode.SnapshotNotFound, `the request for snapshot ${JSON.stringify(name)} of volume ${volume} was cancelled, or its lease holder failed to take it`, { volume, snapshot: name });
      if (snap.state === 'ready') return snap;
      options.onWaiting?.(snap.state, (await this.getVolume(volume)).leaseHolder);
      if (snap.state === 'creating' && !taken) {
        // The holder took it: it is no longer ours to cancel; give it one more wait to finish.
        taken = true;
        deadline = Date.now() + waitMs;
      }
      if (Date.now() >= deadline) {
        if (snap.state === 'creating') throw holderTimeout(volume, name, waitMs, false);
        try {
          await this.meta.call('deleteSnapshot', { volume, name, requested: true });
          throw holderTimeout(volume, name, waitMs, true);
        } catch (err) {
          if (!isBasaltError(err, ErrorCode.CompareFailed)) throw err;
          continue; // taken meanwhile
        }
      }
      await sleep(limits.clientHolderRequestCheckMs);
    }
  }

  /** Deletes a snapshot: its blocks are freed on the chunk servers, unless clones still read through it (then when the last clone goes). */
  async deleteSnapshot(volume: string, name: string): Promise<SnapshotInfo> {
    const snap = snapshotFromPb((await this.meta.call('deleteSnapshot', { volume, name })).snapshot);
    if (snap.removed) await this.dropSnapshotLayers(volume, snap);
    return snap;
  }

  /** Opens a ready snapshot read-only: reads see the volume as it was when it was taken. */
  async openSnapshot(volume: string, name: string): Promise<Volume> {
    return this.openSnapshotOf(await this.getVolume(volume), await this.readySnapshot(volume, name, false));
  }

  /**
   * A new volume from a ready snapshot, writable at once, sharing every block it does not write
   * with the snapshot. O(1). A clone of an encrypted volume shares its data key; this client must
   * unwrap it first (BASALT_KEY_UNAVAILABLE, BASALT_KEY_MISMATCH: no clone is made).
   */
  async cloneVolume(volume: string, snapshot: string, clone: string): Promise<VolumeInfo> {
    const source = await this.getVolume(volume);
    if (source.encryption !== undefined) await this.cipherOf(source);
    return volumeFromPb((await this.meta.call('cloneVolume', { volume, snapshot, clone })).volume);
  }

  /**
   * Makes the volume read as the snapshot again (takes the writer lease: BASALT_LEASE_CONFLICT
   * while a writer holds it). Rewrites only the blocks written since the snapshot (from stamps).
   * Later snapshots stay. The size stays (a volume never shrinks).
   */
  async rollbackVolume(volume: string, snapshot: string, progress?: TransferProgress): Promise<{ bytes: number }> {
    const snap = await this.readySnapshot(volume, snapshot, false);
    const head = await this.openVolume(volume, { writer: true, serveRequests: false });
    try {
      const view = await this.openSnapshotOf(await this.getVolume(volume), snap);
      const ranges = await head.changedRanges(snap);
      const total = ranges.reduce((n, r) => n + r.length, 0);
      let done = 0;
      for (const r of ranges) {
        const data = r.offset >= view.size ? Buffer.alloc(r.length) : await view.read(r.offset, Math.min(r.length, view.size - r.offset));
        const whole = data.length === r.length ? data : Buffer.concat([data, Buffer.alloc(r.length - data.length)]);
        if (whole.every((b) => b === 0)) await head.writeZeroes(r.offset, r.length);
        else await head.write(r.offset, whole);
        done += r.length;
        progress?.(done, total);
      }
      await head.flush();
      return { bytes: total };
    } finally {
      await head.close();
    }
  }

  /**
   * Writes the blocks that differ between snapshot `from` (omitted: a full export) and snapshot
   * `to` of a volume to `file` (docs/snapshots.md, "Diff files"), with checksums.
   */
  async exportDiff(volume: string, options: { from?: string; to: string; file: string; onProgress?: TransferProgress }): Promise<{ records: number; bytes: number }> {
    const info = await this.getVolume(volume);
    const to = await this.readySnapshot(volume, options.to, false);
    const from = options.from === undefined ? undefined : await this.readySnapshot(volume, options.from, false);
    if (from !== undefined && from.id >= to.id) throw invalidArgument(`diff from ${from.name} to ${to.name}: the base must be the older snapshot`);
    const view = await this.openSnapshotOf(info, to);
    try {
      const header = { volume, sizeBytes: to.sizeBytes, from: from === undefined ? null : { name: from.name, id: from.id }, to: { name: to.name, id: to.id }, createdAtMs: Date.now() };
      return await exportDiff(view, header, from, info.parent !== undefined, options.file, options.onProgress);
    } finally {
      await view.close();
    }
  }

  /**
   * Applies a diff file to a volume (takes the writer lease): checks the whole file first, then
   * that the volume holds the diff's base snapshot (by name) and no snapshot of its `to` name, and
   * that it differs from the base (from a volume never written, for a full diff) only in blocks
   * the diff writes (BASALT_DIFF_INVALID, nothing written); grows the volume to the diff's size,
   * writes the blocks, then snapshots the volume with the diff's `to` name so the next
   * incremental diff applies on top.
   */
  async importDiff(volume: string, file: string, options: { onProgress?: TransferProgress } = {}): Promise<{ bytes: number; snapshot: SnapshotInfo }> {
    const { header, bytes, ranges } = await checkDiff(file);
    const info = await this.getVolume(volume);
    const snapshots = await this.listSnapshots(volume, { includeHidden: true });
    if (snapshots.some((x) => x.name === header.to.name)) throw diffInvalidTarget(volume, 'to', `it already holds a snapshot named ${header.to.name}, the one this diff ends with (imported before?)`);
    const base = header.from === null ? undefined : snapshots.find((x) => x.name === header.from!.name && x.state === 'ready' && !x.hidden);
    if (header.from !== null && base === undefined) throw diffInvalidBase(volume, header.from.name);
    if (header.from === null && info.parent !== undefined) throw diffInvalidTarget(volume, 'clone', `a full diff applies to a volume that reads as zeros where it writes nothing, and ${volume} is a clone that reads its parent`);
    const target = await this.openVolume(volume, { writer: true, serveRequests: false });
    try {
      const outside = await this.firstDifference(target, base, uncoveredRanges(await target.changedRanges(base), ranges));
      if (outside !== undefined) {
        const since = base === undefined ? 'holds data' : `differs from snapshot ${base.name}`;
        throw diffInvalidTarget(volume, 'changed', `it ${since} at byte ${outside}, which this diff does not write: applying it would mix two images (${base === undefined ? 'import a full diff into a new volume' : `roll back to ${base.name} first`})`);
      }
      if (info.sizeBytes < header.sizeBytes) await this.resizeVolume(volume, header.sizeBytes);
      await applyDiff(target, file, bytes, options.onProgress);
      return { bytes, snapshot: await target.snapshot(header.to.name) };
    } finally {
      await target.close();
    }
  }

  /**
   * The first byte of `ranges` where `target` does not read as snapshot `base` of it does (no
   * base: as zeros), or undefined. Stamps found the ranges; this compares data, since a block
   * rewritten with what it held (a rollback) has a newer stamp.
   */
  private async firstDifference(target: Volume, base: SnapshotInfo | undefined, ranges: readonly BlockRange[]): Promise<number | undefined> {
    if (ranges.length === 0) return undefined;
    const view = base === undefined ? undefined : await this.openSnapshot(target.name, base.name);
    try {
      for (const r of ranges) {
        const now = await target.read(r.offset, r.length);
        const then = Buffer.alloc(r.length);
        if (view !== undefined && r.offset < view.size) (await view.read(r.offset, Math.min(r.length, view.size - r.offset))).copy(then);
        if (!now.equals(then)) return r.offset + now.findIndex((b, i) => b !== then[i]);
      }
      return undefined;
    } finally {
      await view?.close();
    }
  }

  /**
   * Flattens a clone: copies every block it never wrote from its parent snapshot (takes the
   * writer lease: BASALT_LEASE_CONFLICT while a writer holds it), then ends the read-through in
   * metad; the parent snapshot's layers are freed when it was deleted and this was its last
   * clone. A volume that is no clone is returned as it is. Runs in the foreground at the
   * client's pace (not under the chunk servers' repair budget).
   */
  async flattenVolume(name: string, progress?: TransferProgress): Promise<{ volume: VolumeInfo; bytes: number }> {
    const { parent } = await this.getVolume(name);
    if (parent === undefined) return { volume: await this.getVolume(name), bytes: 0 };
    const v = await this.openVolume(name, { writer: true, serveRequests: false });
    try {
      const bytes = await v.copyParentBlocks(progress);
      await v.flush();
      return { volume: await v.endReadThrough(), bytes };
    } finally {
      await v.close();
    }
  }

  /**
   * Asks the lease holder of clone `name` to flatten it in the background (docs/snapshots.md,
   * "Requests to the lease holder"): it copies what the clone shares with its parent snapshot in
   * its own stream, at most `bytesPerSec` (default limits.repairBandwidthBytesPerSecDefault, the
   * chunk servers' repair budget), while the clone is written, then ends the read-through. Returns
   * at once; the volume's `flatten` shows progress until it ends (then `parent` is undefined).
   * BASALT_NO_LEASE_HOLDER when nobody holds the lease (flattenVolume then does it in the
   * foreground); BASALT_INVALID_ARGUMENT for a volume that is no clone. `cancel` withdraws it.
   */
  async requestFlatten(name: string, options: { bytesPerSec?: number; cancel?: boolean } = {}): Promise<VolumeInfo> {
    return volumeFromPb((await this.meta.call('requestFlatten', { name, bytesPerSec: options.bytesPerSec ?? 0, cancel: options.cancel === true })).volume);
  }

  private async readySnapshot(volume: string, name: string, includeHidden: boolean): Promise<SnapshotInfo> {
    const found = (await this.listSnapshots(volume, { includeHidden })).find((x) => x.name === name);
    if (found === undefined || found.state !== 'ready') throw new BasaltError(ErrorCode.SnapshotNotFound, `volume ${volume} has no ready snapshot named ${JSON.stringify(name)}`, { volume, snapshot: name });
    return found;
  }

  private async openSnapshotOf(info: VolumeInfo, snap: SnapshotInfo): Promise<Volume> {
    const cipher = await this.cipherOf(info);
    const parent = await this.openParent(info);
    return new Volume({ ...info, sizeBytes: snap.sizeBytes }, { meta: this.meta, pool: this.pool, lease: undefined, onEvent: this.onEvent, metrics: this.metrics, at: { id: snap.id, extents: new Set(snap.extents) }, cipher, parent });
  }

  /**
   * An encrypted volume's block cipher (its data key unwrapped by the key provider); undefined for
   * a plaintext one. A clone's key is its source's, wrapped for the source's id.
   */
  private async cipherOf(info: VolumeInfo): Promise<BlockCipher | undefined> {
    return info.encryption === undefined ? undefined : volumeBlockCipher(this.keyProvider, info.encryption, { volumeId: info.encryption.keyVolumeId, volumeName: info.name });
  }

  /** A clone's parent snapshot opened read-only (hidden ones too: the clone still reads them); undefined for other volumes. */
  private async openParent(info: VolumeInfo): Promise<Volume | undefined> {
    if (info.parent === undefined) return undefined;
    const { volume, snapshotId } = info.parent;
    const snap = (await this.listSnapshots(volume, { includeHidden: true })).find((x) => x.id === snapshotId);
    if (snap === undefined) throw new BasaltError(ErrorCode.SnapshotNotFound, `clone ${info.name}'s parent snapshot ${info.parent.snapshot} of ${volume} is gone`, { volume, snapshot: info.parent.snapshot });
    return this.openSnapshotOf(await this.getVolume(volume), snap);
  }

  private async dropSnapshotLayers(volume: string, snap: SnapshotInfo): Promise<void> {
    const info = await this.getVolume(volume);
    const v = new Volume(info, { meta: this.meta, pool: this.pool, lease: undefined, onEvent: this.onEvent, metrics: this.metrics });
    await v.dropSnapshot(snap.id, snap.extents);
  }

  /** Sets a label (value) or removes it (undefined), optionally compare-and-set. */
  async setLabel(name: string, key: string, value: string | undefined, options: SetLabelOptions = {}): Promise<VolumeInfo> {
    const reply = await this.meta.call('setVolumeLabel', { name, key, ...(value !== undefined && { value }), ...(options.expect !== undefined && { expect: options.expect }) });
    return volumeFromPb(reply.volume);
  }

  /** Where a volume's allocated extents live, by index (extents never written are not listed). */
  async extentPlacements(name: string): Promise<ExtentPlacement[]> {
    const out: ExtentPlacement[] = [];
    const { extentCount } = await this.getVolume(name);
    for (let from = 0; from < extentCount; from += limits.clientExtentMapPageExtents) {
      const reply = await this.meta.call('getExtentMap', { volume: name, fromIndex: from, count: limits.clientExtentMapPageExtents });
      out.push(...reply.extents.map(placementFromPb));
    }
    return out;
  }

  // ---- leases ----

  /**
   * Takes a volume's writer lease for `holder` without opening it (openVolume({ writer: true })
   * does this itself). BASALT_LEASE_CONFLICT when another holder has it, unless `force`, which
   * fences that holder.
   */
  async acquireLease(name: string, holder: string, options: { force?: boolean } = {}): Promise<Lease> {
    const reply = await this.meta.call('acquireLease', { volume: name, clientId: holder, force: options.force === true });
    return { holder: reply.holder === '' ? holder : reply.holder, generation: Number(reply.generation) };
  }

  /** Releases a lease taken with acquireLease (BASALT_LEASE_FENCED when another holder took it over). */
  async releaseLease(name: string, lease: Lease): Promise<void> {
    await this.meta.call('releaseLease', { volume: name, clientId: lease.holder, generation: lease.generation });
  }

  /** Opens a volume, read-only unless `writer`; a writer holds the volume's lease until close(). */
  async openVolume(name: string, options: OpenOptions = {}): Promise<Volume> {
    if (options.force === true && options.writer !== true) throw invalidArgument('force takes the writer lease: use it with { writer: true }');
    const volume = await this.getVolume(name);
    // The data key first: a client without the right KEK fails here, before it takes the lease.
    const cipher = await this.cipherOf(volume);
    let lease: { clientId: string; generation: number } | undefined;
    if (options.writer === true) {
      const granted = await this.acquireLease(name, this.clientId, { force: options.force === true });
      lease = { clientId: this.clientId, generation: granted.generation };
    }
    const parent = await this.openParent(volume);
    return new Volume(volume, { meta: this.meta, pool: this.pool, lease, onEvent: this.onEvent, metrics: this.metrics, cipher, parent, serveRequests: options.serveRequests !== false, allocateAhead: options.allocateAhead === true });
  }

  // ---- tenants and audit ----

  /** Creates a tenant (admin only; BASALT_TENANT_EXISTS when the name is taken). */
  async createTenant(name: string, options: CreateTenantOptions = {}): Promise<TenantInfo> {
    return tenantFromPb((await this.meta.call('createTenant', { name, maxBytes: options.maxBytes ?? 0, maxVolumes: options.maxVolumes ?? 0 })).tenant);
  }

  /** Every tenant with quotas and usage, "default" first (a client or an agent: its own only). */
  async listTenants(): Promise<TenantInfo[]> {
    return (await this.meta.call('listTenants', {})).tenants.map(tenantFromPb);
  }

  /**
   * Replaces a tenant's quotas (admin only; an absent quota becomes "no limit"). A quota below the
   * tenant's usage refuses later creates and growth; no volume changes.
   */
  async setTenantQuota(name: string, options: CreateTenantOptions): Promise<TenantInfo> {
    return tenantFromPb((await this.meta.call('setTenantQuota', { name, maxBytes: options.maxBytes ?? 0, maxVolumes: options.maxVolumes ?? 0 })).tenant);
  }

  /** Removes a tenant (admin only): BASALT_TENANT_NOT_EMPTY while it owns a volume. */
  async deleteTenant(name: string): Promise<void> {
    await this.meta.call('deleteTenant', { name });
  }

  /**
   * The newest audit entries at or after `sinceMs`, oldest first (admin only; at most `limit`, by
   * default limits.auditReplyEntriesMax). Each member records what it served (a refusal may come
   * from any member), so every member the cluster lists is asked and the answers are merged by
   * time. A member that does not answer goes to `onUnreachable` and is left out; when none answers,
   * its error is thrown, as is a refusal of the caller.
   */
  async auditLog(options: { sinceMs?: number; limit?: number; onUnreachable?: (address: string, err: BasaltError) => void } = {}): Promise<AuditEntry[]> {
    const limit = options.limit !== undefined && options.limit > 0 ? Math.min(options.limit, limits.auditReplyEntriesMax) : limits.auditReplyEntriesMax;
    const request = { sinceMs: options.sinceMs ?? 0, limit };
    const members = (await this.meta.call('listMembers', { stale: true })).members.map((m) => m.address).filter((a) => a !== '');
    const answers = await Promise.all(members.map(async (address) => {
      try {
        return (await this.meta.call('listAudit', request, { address })).entries.map(auditEntryFromPb);
      } catch (err) {
        if (!(err instanceof BasaltError) || err.code === ErrorCode.PermissionDenied || err.code === ErrorCode.Unauthenticated) throw err;
        return err;
      }
    }));
    const failed = answers.filter((a): a is BasaltError => a instanceof BasaltError);
    if (failed.length === answers.length && failed[0] !== undefined) throw failed[0];
    answers.forEach((a, i) => {
      if (a instanceof BasaltError) options.onUnreachable?.(members[i]!, a);
    });
    const merged = answers.flatMap((a) => (a instanceof BasaltError ? [] : a)).sort((x, y) => x.atMs - y.atMs);
    return merged.slice(Math.max(0, merged.length - limit));
  }

  // ---- chunk servers and redundancy ----

  async listServers(): Promise<ServerInfo[]> {
    return (await this.meta.call('listServers', {})).servers.map(serverFromPb);
  }

  /** Moves every replica off a server (copies first); `false` ends draining. */
  async drainServer(id: string, drain = true): Promise<ServerInfo> {
    return serverFromPb((await this.meta.call('drainServer', { id, drain })).server);
  }

  /** Treats a server as lost now: its replicas are rebuilt elsewhere. */
  async markServerOut(id: string): Promise<ServerInfo> {
    return serverFromPb((await this.meta.call('markServerOut', { id })).server);
  }

  /** Forgets a server (refused while it holds the only good copy of any extent). */
  async removeServer(id: string): Promise<ServerInfo> {
    return serverFromPb((await this.meta.call('removeServer', { id })).server);
  }

  /** The cluster's redundancy and repair progress (GetRepairStatus). */
  async repairStatus(): Promise<RepairStatus> {
    return repairFromPb(await this.meta.call('getRepairStatus', {}));
  }

  /** Extents below their replication factor: `total` counts all, `extents` lists up to `limit`. */
  async degradedExtents(limit = 0): Promise<{ total: number; extents: DegradedExtent[] }> {
    const reply = await this.meta.call('listDegradedExtents', { limit });
    return { total: Number(reply.total), extents: reply.extents.map(degradedFromPb) };
  }

  // ---- metad members ----

  /**
   * The status of the member at `address` (no redirect); the leader's when no address is given.
   * `stateHash` asks for the hash of its applied state (a digest of the whole state: its cost grows
   * with the number of volumes), empty otherwise.
   */
  async memberStatus(address?: string, options: { stateHash?: boolean } = {}): Promise<MemberStatus> {
    const request = { stateHash: options.stateHash === true };
    return memberStatusFromPb(await this.meta.call('status', request, address === undefined ? {} : { address, timeoutMs: limits.clientMemberStatusTimeoutMs }));
  }

  /**
   * Every member's own status: the members the cluster lists (when any member answers) plus the
   * endpoints given, so an unreachable member shows up with its error instead of a status.
   */
  async memberStatuses(endpoints: readonly string[] = [], options: { stateHash?: boolean } = {}): Promise<MemberStatus[]> {
    const addresses = new Set(endpoints);
    try {
      for (const m of (await this.meta.call('listMembers', { stale: true }, { timeoutMs: limits.clientMemberStatusTimeoutMs })).members) if (m.address) addresses.add(m.address);
    } catch {
      // No member answered: report the endpoints alone.
    }
    return Promise.all([...addresses].sort().map(async (address) => {
      try {
        return await this.memberStatus(address, options);
      } catch (err) {
        if (!(err instanceof BasaltError)) throw err;
        return { ...memberStatusFromPb({ address }), error: { code: err.code, message: err.message } };
      }
    }));
  }

  async listMembers(): Promise<Member[]> {
    return (await this.meta.call('listMembers', {})).members.map(memberFromPb);
  }

  /** Adds a member (a voter, or a learner to promote once it caught up); returns the new membership. */
  async addMember(id: string, address: string, options: { learner?: boolean } = {}): Promise<Member[]> {
    return (await this.meta.call('addMember', { id, address, learner: options.learner === true })).members.map(memberFromPb);
  }

  async removeMember(id: string): Promise<Member[]> {
    return (await this.meta.call('removeMember', { id })).members.map(memberFromPb);
  }

  async promoteMember(id: string): Promise<Member[]> {
    return (await this.meta.call('promoteMember', { id })).members.map(memberFromPb);
  }

  /** Starts a leadership transfer to voter `id`. */
  async transferLeader(id: string): Promise<void> {
    await this.meta.call('transferLeader', { id });
  }

  /** Closes connections. Close volumes first: their leases are not released here. */
  // ---- transport security ----

  /** Puts a certificate serial (hex, as `basalt certs issue` prints it) on metad's deny list; returns the whole list. */
  async revokeCertificate(serial: string): Promise<string[]> {
    return (await this.meta.call('revokeCertificate', { serial })).serials;
  }

  /** The serials of revoked certificates. */
  async revokedSerials(): Promise<string[]> {
    return (await this.meta.call('listRevocations', {})).serials;
  }

  close(): void {
    this.stopRevocationSync();
    this.pool.close();
    this.meta.close();
  }
}

function holderTimeout(volume: string, snapshot: string, waitMs: number, cancelled: boolean): BasaltError {
  const what = cancelled ? 'did not take it' : 'took it but did not finish it';
  const after = cancelled ? 'the request is cancelled' : `it stays 'creating' until the holder finishes it (basalt snapshot rm removes it)`;
  return new BasaltError(ErrorCode.HolderTimeout, `asked the lease holder of volume ${volume} for snapshot ${JSON.stringify(snapshot)}; it ${what} within ${waitMs} ms: ${after}`, { volume, snapshot, waitMs, cancelled });
}

function diffInvalidTarget(volume: string, reason: string, why: string): BasaltError {
  return new BasaltError(ErrorCode.DiffInvalid, `diff file is not valid for volume ${volume}: ${why}; nothing was written`, { reason, volume });
}

function diffInvalidBase(volume: string, base: string): BasaltError {
  return new BasaltError(ErrorCode.DiffInvalid, `diff file is not valid for volume ${volume}: it applies on top of snapshot ${base}, which the volume does not hold (import the earlier diffs first)`, { reason: 'base', volume, snapshot: base });
}
