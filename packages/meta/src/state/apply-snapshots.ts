import { ErrorCode, limits } from '@basalt/stdx';
import { refuseOverQuota } from './apply-tenants.js';
import { releaseParent } from './apply-volumes.js';
import type { CloneVolumeCommand, CommitSnapshotCommand, CreateSnapshotCommand, DeleteSnapshotCommand, FlattenVolumeCommand } from './commands.js';
import { findVolume } from './lookup.js';
import { snapsOf, type SnapshotRecord, type StateData, type VolumeRecord } from './records.js';
import { fail, ok, type Result } from './result.js';
import { addUsage } from './tenant-usage.js';
import { insertName } from './volume-names.js';
import { snapshotView, volumeView } from './view-of.js';
import type { SnapshotView, VolumeView } from './views.js';

/**
 * Snapshots and clones (docs/snapshots.md). metad records them; the data stays on the chunk
 * servers, taken there by the writer (SNAPSHOT in each extent's write stream). A snapshot is
 * 'creating' from createSnapshot until commitSnapshot; deleting one with clones hides it until
 * its last clone is deleted. A 'requested' one (apply-holder-requests.ts) becomes 'creating' when
 * its lease holder takes it (createSnapshot with `requested`).
 */

export function applyCreateSnapshot(data: StateData, cmd: CreateSnapshotCommand): Result<SnapshotView> {
  const found = findVolume(data, cmd.name);
  if (!found.ok) return found;
  const volume = found.value;
  const snaps = snapsOf(volume);
  const existing = snaps.snapshots.get(cmd.snapshot);
  if (cmd.requested === true && existing?.state !== 'requested') {
    // The request was cancelled (or never filed): the holder takes nothing.
    return fail(ErrorCode.SnapshotNotFound, `volume ${volume.name} has no snapshot request named ${JSON.stringify(cmd.snapshot)} (cancelled?)`, { volume: volume.name, snapshot: cmd.snapshot });
  }
  if (existing !== undefined && cmd.requested !== true) {
    return fail(ErrorCode.SnapshotExists, `volume ${volume.name} already has a snapshot named ${JSON.stringify(cmd.snapshot)}`, { volume: volume.name, snapshot: cmd.snapshot });
  }
  if (existing === undefined && snaps.snapshots.size >= limits.snapshotsPerVolumeMax) {
    return fail(ErrorCode.LimitExceeded, `volume ${volume.name} already has ${limits.snapshotsPerVolumeMax} snapshots, the most allowed`, { volume: volume.name, max: limits.snapshotsPerVolumeMax });
  }
  const snap: SnapshotRecord = {
    id: snaps.nextSnapshotId,
    name: cmd.snapshot,
    createdAtMs: cmd.nowMs,
    state: 'creating',
    sizeBytes: volume.sizeBytes,
    extents: [...volume.extents.keys()].sort((a, b) => a - b),
    clones: 0,
    hidden: false,
  };
  snaps.nextSnapshotId += 1;
  snaps.snapshots.set(snap.name, snap);
  return ok(snapshotView(volume, snap));
}

export function applyCommitSnapshot(data: StateData, cmd: CommitSnapshotCommand): Result<SnapshotView> {
  const found = findSnapshot(data, cmd.name, cmd.snapshot, true);
  if (!found.ok) return found;
  const { volume, snap } = found.value;
  if (snap.state === 'requested') return fail(ErrorCode.SnapshotNotFound, `snapshot ${JSON.stringify(cmd.snapshot)} of volume ${volume.name} is only requested: its lease holder has not taken it`, { volume: volume.name, snapshot: cmd.snapshot });
  snap.state = 'ready';
  return ok(snapshotView(volume, snap));
}

/** Removes the record, or hides it while clones read through it; the view says which (`removed`). */
export function applyDeleteSnapshot(data: StateData, cmd: DeleteSnapshotCommand): Result<SnapshotView> {
  const found = findSnapshot(data, cmd.name, cmd.snapshot, true);
  if (!found.ok) return found;
  const { volume, snap } = found.value;
  if (cmd.requested === true && snap.state !== 'requested') {
    // Too late to cancel: the holder is taking it (or took it).
    return fail(ErrorCode.CompareFailed, `snapshot ${JSON.stringify(cmd.snapshot)} of volume ${volume.name} is ${snap.state}, no longer only requested`, { volume: volume.name, snapshot: cmd.snapshot, state: snap.state });
  }
  if (snap.clones > 0) snap.hidden = true;
  else volume.snaps!.snapshots.delete(snap.name);
  return ok(snapshotView(volume, snap));
}

/** A new volume of the source's geometry (and data key) whose never-written blocks read as the snapshot. */
export function applyCloneVolume(data: StateData, cmd: CloneVolumeCommand): Result<VolumeView> {
  if (data.volumes.has(cmd.clone)) return fail(ErrorCode.VolumeExists, `a volume named ${JSON.stringify(cmd.clone)} already exists`, { volume: cmd.clone });
  if (data.volumes.size >= limits.volumesMax) return fail(ErrorCode.LimitExceeded, `the cluster already has ${limits.volumesMax} volumes, the most allowed`, { max: limits.volumesMax });
  const found = findSnapshot(data, cmd.name, cmd.snapshot, false);
  if (!found.ok) return found;
  const { volume: source, snap } = found.value;
  if (source.encryption !== null && cmd.shareKey !== true) {
    return fail(ErrorCode.NotSupported, `volume ${source.name} is encrypted: this entry predates clones of encrypted volumes`, { volume: source.name });
  }
  // A clone belongs to its source's tenant and counts towards its quotas.
  const overQuota = refuseOverQuota(data, data.tenants.get(source.tenant), 1, snap.sizeBytes);
  if (overQuota !== null) return overQuota;
  const clone: VolumeRecord = {
    id: data.nextVolumeId,
    name: cmd.clone,
    tenant: source.tenant,
    // The clone reads its parent's ciphertext as its own: same key, same tweaks (block indexes).
    encryption: source.encryption,
    sizeBytes: snap.sizeBytes,
    extentSizeBytes: source.extentSizeBytes,
    replicationFactor: source.replicationFactor,
    generation: 0,
    lease: null,
    labels: new Map(),
    createdAtMs: cmd.nowMs,
    extents: new Map(),
    snaps: { snapshots: new Map(), nextSnapshotId: 1, parent: { volumeId: source.id, volumeName: source.name, snapshotId: snap.id, snapshotName: snap.name } },
  };
  snap.clones += 1;
  data.nextVolumeId += 1;
  data.volumes.set(clone.name, clone);
  addUsage(data, clone.tenant, 1, clone.sizeBytes);
  insertName(data.volumeNames, clone.name);
  return ok(volumeView(clone));
}

/** A clone whose blocks were all copied from its parent (the SDK's flatten) no longer reads through it. */
export function applyFlattenVolume(data: StateData, cmd: FlattenVolumeCommand): Result<VolumeView> {
  const found = findVolume(data, cmd.name);
  if (!found.ok) return found;
  const volume = found.value;
  if (volume.snaps?.parent === null || volume.snaps?.parent === undefined) return ok(volumeView(volume));
  releaseParent(data, volume);
  volume.snaps.parent = null;
  return ok(volumeView(volume));
}

/** A visible snapshot of a volume; a 'requested' or 'creating' one only when `creating` allows it. */
export function findSnapshot(data: StateData, name: string, snapshot: string, creating: boolean): Result<{ volume: VolumeRecord; snap: SnapshotRecord }> {
  const found = findVolume(data, name);
  if (!found.ok) return found;
  const snap = found.value.snaps?.snapshots.get(snapshot);
  if (snap === undefined || snap.hidden || (!creating && snap.state !== 'ready')) {
    const why = snap === undefined || snap.hidden ? 'has no snapshot named' : 'is still creating snapshot';
    return fail(ErrorCode.SnapshotNotFound, `volume ${name} ${why} ${JSON.stringify(snapshot)}`, { volume: name, snapshot });
  }
  return ok({ volume: found.value, snap });
}
