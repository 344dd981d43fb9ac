import { forgetVolume } from './attention.js';
import { insertName, removeName } from './volume-names.js';
import { assert, ErrorCode, limits } from '@basalt/stdx';
import type { CreateVolumeCommand, DeleteVolumeCommand, ResizeVolumeCommand, SetLabelCommand } from './commands.js';
import { findVolume } from './lookup.js';
import { defaultTenant, type StateData, type VolumeRecord } from './records.js';
import { findTenant, refuseOtherTenant, refuseOverQuota } from './apply-tenants.js';
import { addUsage } from './tenant-usage.js';
import { fail, ok, type Result } from './result.js';
import { checkSizeMultiple } from './validate.js';
import { volumeView } from './view-of.js';
import type { LabelView, VolumeView } from './views.js';

/** Volume lifecycle and labels. Each handler validates fully before it changes anything. */

export function applyCreateVolume(data: StateData, cmd: CreateVolumeCommand): Result<VolumeView> {
  if (data.volumes.has(cmd.name)) {
    return fail(ErrorCode.VolumeExists, `a volume named ${JSON.stringify(cmd.name)} already exists`, { volume: cmd.name });
  }
  if (cmd.expectedId !== undefined && cmd.expectedId !== data.nextVolumeId) {
    return fail(ErrorCode.CompareFailed, `volume ${cmd.name} would get id ${data.nextVolumeId}, not the expected ${cmd.expectedId} its key is bound to`, {
      volume: cmd.name, expected: cmd.expectedId, actual: data.nextVolumeId,
    });
  }
  if (data.volumes.size >= limits.volumesMax) {
    return fail(ErrorCode.LimitExceeded, `the cluster already has ${limits.volumesMax} volumes, the most allowed`, { max: limits.volumesMax });
  }
  const tenant = findTenant(data, cmd.tenant ?? defaultTenant);
  if (!tenant.ok) return tenant;
  const overQuota = refuseOverQuota(data, tenant.value, 1, cmd.sizeBytes);
  if (overQuota !== null) return overQuota;
  const volume: VolumeRecord = {
    id: data.nextVolumeId,
    name: cmd.name,
    tenant: cmd.tenant ?? defaultTenant,
    sizeBytes: cmd.sizeBytes,
    extentSizeBytes: cmd.extentSizeBytes,
    replicationFactor: cmd.replicationFactor,
    generation: 0,
    lease: null,
    labels: new Map(),
    createdAtMs: cmd.nowMs,
    encryption: cmd.cipher !== undefined && cmd.keyId !== undefined && cmd.wrappedKey !== undefined ? { cipher: cmd.cipher, keyId: cmd.keyId, wrappedKey: cmd.wrappedKey, keyVolumeId: data.nextVolumeId } : null,
    extents: new Map(),
    snaps: null,
  };
  data.nextVolumeId += 1;
  data.volumes.set(volume.name, volume);
  insertName(data.volumeNames, volume.name);
  addUsage(data, volume.tenant, 1, volume.sizeBytes);
  return ok(volumeView(volume));
}

export function applyResizeVolume(data: StateData, cmd: ResizeVolumeCommand): Result<VolumeView> {
  const found = findVolume(data, cmd.name);
  if (!found.ok) return found;
  const volume = found.value;
  const otherTenant = refuseOtherTenant(volume, cmd.requireTenant);
  if (otherTenant !== null) return otherTenant;
  const notMultiple = checkSizeMultiple(cmd.sizeBytes, volume.extentSizeBytes);
  if (notMultiple !== null) return { ok: false, error: notMultiple };
  if (cmd.sizeBytes < volume.sizeBytes) {
    const refused = refuseShrink(volume, cmd.sizeBytes, cmd.force === true);
    if (refused !== null) return refused;
  } else {
    const overQuota = refuseOverQuota(data, data.tenants.get(volume.tenant), 0, cmd.sizeBytes - volume.sizeBytes);
    if (overQuota !== null) return overQuota;
  }
  addUsage(data, volume.tenant, 0, cmd.sizeBytes - volume.sizeBytes);
  volume.sizeBytes = cmd.sizeBytes;
  return ok(volumeView(volume));
}

/**
 * Why a volume may not shrink to `sizeBytes`, or null when it may: only when forced, and only
 * over never-written space (no allocated extent at or past the new end), so no data is lost and
 * no replica outlives its place in the map.
 */
function refuseShrink(volume: VolumeRecord, sizeBytes: number, force: boolean): Result<never> | null {
  const details = { volume: volume.name, sizeBytes, currentSizeBytes: volume.sizeBytes };
  if (!force) return fail(ErrorCode.ShrinkNotAllowed, `volume ${volume.name} is ${volume.sizeBytes} bytes; it can grow but not shrink to ${sizeBytes} (force shrinks over never-written space only)`, details);
  const newExtentCount = sizeBytes / volume.extentSizeBytes;
  const beyond = [...volume.extents.keys()].filter((index) => index >= newExtentCount);
  if (beyond.length === 0) return null;
  const firstAllocatedIndex = Math.min(...beyond);
  return fail(ErrorCode.ShrinkNotAllowed, `volume ${volume.name} holds data past ${sizeBytes} bytes (extent ${firstAllocatedIndex} and ${beyond.length - 1} more are allocated); a resize never discards data`, {
    ...details, firstAllocatedIndex, allocatedBeyond: beyond.length,
  });
}

/** Deletes the volume's extent map too; chunk servers collect the orphaned replicas by volume id. */
export function applyDeleteVolume(data: StateData, cmd: DeleteVolumeCommand): Result<VolumeView> {
  const found = findVolume(data, cmd.name);
  if (!found.ok) return found;
  const volume = found.value;
  const otherTenant = refuseOtherTenant(volume, cmd.requireTenant);
  if (otherTenant !== null) return otherTenant;
  if (volume.lease !== null && !cmd.force) {
    return fail(ErrorCode.VolumeBusy, `volume ${volume.name} is open for writing by ${volume.lease.clientId}; close it or delete with force`, {
      volume: volume.name,
      holder: volume.lease.clientId,
      generation: volume.generation,
    });
  }
  const cloned = [...(volume.snaps?.snapshots.values() ?? [])].find((snap) => snap.clones > 0);
  if (cloned !== undefined) {
    return fail(ErrorCode.VolumeBusy, `volume ${volume.name} has clones of its snapshot ${cloned.name}; delete them first`, { volume: volume.name, snapshot: cloned.name, clones: cloned.clones });
  }
  const view = volumeView(volume);
  releaseParent(data, volume);
  for (const extent of volume.extents.values()) {
    for (const serverId of [...extent.replicas, ...extent.rebuilding]) {
      const server = data.servers.get(serverId);
      assert(server !== undefined && server.extentCount > 0, `extent count of ${serverId} out of step`);
      server.extentCount -= 1;
    }
  }
  forgetVolume(data, volume);
  data.volumes.delete(volume.name);
  removeName(data.volumeNames, volume.name);
  addUsage(data, volume.tenant, -1, -volume.sizeBytes);
  return ok(view);
}

/** A deleted (or flattened) clone no longer holds its parent snapshot; a hidden snapshot goes with its last clone. */
export function releaseParent(data: StateData, volume: VolumeRecord): void {
  const parent = volume.snaps?.parent;
  if (parent === undefined || parent === null) return;
  const source = data.volumes.get(parent.volumeName);
  const snap = source?.snaps?.snapshots.get(parent.snapshotName);
  assert(source !== undefined && source.id === parent.volumeId && snap !== undefined && snap.clones > 0, `parent snapshot of clone ${volume.name} out of step`);
  snap.clones -= 1;
  if (snap.hidden && snap.clones === 0) source.snaps!.snapshots.delete(snap.name);
}

export function applySetLabel(data: StateData, cmd: SetLabelCommand): Result<LabelView> {
  const found = findVolume(data, cmd.name);
  if (!found.ok) return found;
  const volume = found.value;
  const previous = volume.labels.get(cmd.key) ?? null;
  if (cmd.expect !== undefined && cmd.expect !== previous) {
    return fail(ErrorCode.CompareFailed, `label ${cmd.key} of volume ${volume.name} is ${JSON.stringify(previous)}, not the expected ${JSON.stringify(cmd.expect)}`, {
      volume: volume.name,
      key: cmd.key,
      expected: cmd.expect,
      actual: previous,
    });
  }
  if (cmd.value === null) {
    volume.labels.delete(cmd.key);
  } else {
    if (previous === null && volume.labels.size >= limits.labelsPerVolumeMax) {
      return fail(ErrorCode.LimitExceeded, `volume ${volume.name} already has ${limits.labelsPerVolumeMax} labels, the most allowed`, {
        volume: volume.name,
        max: limits.labelsPerVolumeMax,
      });
    }
    volume.labels.set(cmd.key, cmd.value);
  }
  return ok({ volume: volume.name, key: cmd.key, value: cmd.value, previous });
}
