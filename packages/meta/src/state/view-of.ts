import { assert } from '@basalt/stdx';
import type { ExtentRecord, ServerRecord, SnapshotRecord, StateData, TenantRecord, VolumeRecord } from './records.js';
import { usageOf } from './tenant-usage.js';
import type { ExtentView, ServerView, SnapshotView, TenantView, VolumeView } from './views.js';
import { compareStrings } from './order.js';

/** Builders of the immutable views handed out by queries and command results. */

export function serverView(s: ServerRecord): ServerView {
  return {
    id: s.id,
    address: s.address,
    zone: s.zone,
    capacityBytes: s.capacityBytes,
    freeBytes: s.freeBytes,
    state: s.state,
    stateSinceMs: s.stateSinceMs,
    draining: s.draining,
    lastHeartbeatMs: s.lastHeartbeatMs,
    extentCount: s.extentCount,
  };
}

export function volumeView(v: VolumeRecord): VolumeView {
  return {
    id: v.id,
    name: v.name,
    sizeBytes: v.sizeBytes,
    extentSizeBytes: v.extentSizeBytes,
    extentCount: v.sizeBytes / v.extentSizeBytes,
    allocatedExtents: v.extents.size,
    replicationFactor: v.replicationFactor,
    generation: v.generation,
    lease: v.lease === null ? null : { clientId: v.lease.clientId, acquiredAtMs: v.lease.acquiredAtMs },
    labels: Object.fromEntries(sortedLabels(v)),
    createdAtMs: v.createdAtMs,
    encryption: v.encryption === null ? null : { ...v.encryption },
    tenant: v.tenant,
    parent: parentView(v),
    snapshotCount: [...(v.snaps?.snapshots.values() ?? [])].filter((snap) => !snap.hidden).length,
    requestedSnapshots: requestedSnapshots(v),
    flatten: v.snaps?.parent?.flatten === undefined ? null : { ...v.snaps.parent.flatten },
  };
}

/** A tenant's view; `record` undefined is the built-in default tenant. */
export function tenantView(data: StateData, name: string, record: TenantRecord | undefined): TenantView {
  const usage = usageOf(data, name);
  return {
    name,
    maxBytes: record?.maxBytes ?? 0,
    maxVolumes: record?.maxVolumes ?? 0,
    volumes: usage.volumes,
    sizeBytes: usage.sizeBytes,
    createdAtMs: record?.createdAtMs ?? 0,
  };
}

export function snapshotView(v: VolumeRecord, snap: SnapshotRecord): SnapshotView {
  return {
    volume: v.name,
    volumeId: v.id,
    id: snap.id,
    name: snap.name,
    createdAtMs: snap.createdAtMs,
    state: snap.state,
    requestedBy: snap.requestedBy ?? '',
    sizeBytes: snap.sizeBytes,
    extents: snap.extents,
    clones: snap.clones,
    removed: v.snaps?.snapshots.get(snap.name) !== snap,
    hidden: snap.hidden,
  };
}

/** The names of the volume's 'requested' snapshots, oldest request first. */
function requestedSnapshots(v: VolumeRecord): string[] {
  return [...(v.snaps?.snapshots.values() ?? [])].filter((s) => s.state === 'requested').sort((a, b) => a.createdAtMs - b.createdAtMs || compareStrings(a.name, b.name)).map((s) => s.name);
}

function parentView(v: VolumeRecord): VolumeView['parent'] {
  const p = v.snaps?.parent;
  return p === undefined || p === null ? null : { volume: p.volumeName, volumeId: p.volumeId, snapshot: p.snapshotName, snapshotId: p.snapshotId };
}

export function sortedLabels(v: VolumeRecord): [string, string][] {
  return [...v.labels.entries()].sort(([a], [b]) => compareStrings(a, b));
}

export function extentView(data: StateData, index: number, e: ExtentRecord): ExtentView {
  const member = (serverId: string, rebuilding: boolean) => {
    const server = data.servers.get(serverId);
    assert(server !== undefined, `replica on unknown server ${serverId}`);
    return { serverId, address: server.address, rebuilding };
  };
  const replicas = [...e.replicas.map((id) => member(id, false)), ...e.rebuilding.map((id) => member(id, true))];
  const primary = e.replicas[0];
  assert(primary !== undefined, 'empty replica set');
  return { index, epoch: e.epoch, primary, replicas };
}
