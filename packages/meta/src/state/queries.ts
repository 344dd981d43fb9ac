import { assert, ErrorCode, limits } from '@basalt/stdx';
import { firstAfter } from './volume-names.js';
import { findServer, findVolume } from './lookup.js';
import { defaultTenant, type ExtentRecord, type StateData, type VolumeRecord } from './records.js';
import { findTenant } from './apply-tenants.js';
import { fail, ok, type Result } from './result.js';
import { checkUint } from './validate.js';
import { extentView, serverView, snapshotView, tenantView, volumeView } from './view-of.js';
import { findSnapshot } from './apply-snapshots.js';
import type { TenantView, ClusterCounts, DegradedExtentView, DegradedReport, ExtentMapView, ExtentRef, RedundancyCounts, RepairTaskView, ServerView, SnapshotView, VolumePage, VolumeView } from './views.js';
import { compareStrings } from './order.js';
import { attentionExtents } from './attention.js';

/** Read-only questions to the state; the server asks them after a ReadIndex. */

export function getVolume(data: StateData, name: string): Result<VolumeView> {
  const found = findVolume(data, name);
  return found.ok ? ok(volumeView(found.value)) : found;
}

/** The volume's visible snapshots, oldest first ('creating' ones too, then 'requested' ones); with includeHidden also those kept for clones. */
export function listSnapshots(data: StateData, name: string, includeHidden = false): Result<SnapshotView[]> {
  const found = findVolume(data, name);
  if (!found.ok) return found;
  const volume = found.value;
  return ok([...(volume.snaps?.snapshots.values() ?? [])].filter((snap) => includeHidden || !snap.hidden).sort((a, b) => (a.id === 0 ? Infinity : a.id) - (b.id === 0 ? Infinity : b.id) || a.createdAtMs - b.createdAtMs).map((snap) => snapshotView(volume, snap)));
}

/**
 * Whether snapshot `id` of a volume is gone for good: an id the volume spent (ids only grow and are
 * never reused) that no snapshot holds, listed or kept hidden for clones. Only then may its blocks
 * be dropped on the chunk servers.
 */
export function snapshotDropped(data: StateData, name: string, id: number): Result<boolean> {
  const found = findVolume(data, name);
  if (!found.ok) return found;
  const snaps = found.value.snaps;
  if (snaps === undefined || snaps === null || id < 1 || id >= snaps.nextSnapshotId) return ok(false);
  return ok(![...snaps.snapshots.values()].some((snap) => snap.id === id));
}

/** A visible snapshot, 'creating' or 'ready'. */
export function getSnapshot(data: StateData, name: string, snapshot: string): Result<SnapshotView> {
  const found = findSnapshot(data, name, snapshot, true);
  return found.ok ? ok(snapshotView(found.value.volume, found.value.snap)) : found;
}

/** Every volume, or only `tenant`'s, by name. */
export function listVolumes(data: StateData, tenant?: string): VolumeView[] {
  if (tenant === undefined) return listOf(data, data.volumeNames);
  return listOf(data, data.volumeNames.filter((name) => (data.volumes.get(name) as VolumeRecord).tenant === tenant));
}

/**
 * Up to `limit` volumes whose names follow `after` ('' for the first page), by name, and the
 * name to ask after for the next page ('' after the last one). Costs a binary search and the
 * page, not a pass over every volume; with `tenant`, the names passed over that are not the
 * tenant's too.
 */
export function listVolumesPage(data: StateData, after: string, limit: number, tenant?: string): VolumePage {
  assert(Number.isSafeInteger(limit) && limit >= 1, `page limit ${limit}`);
  const names: string[] = [];
  let at = firstAfter(data.volumeNames, after);
  for (; at < data.volumeNames.length && names.length < limit; at++) {
    const name = data.volumeNames[at] as string;
    if (tenant === undefined || (data.volumes.get(name) as VolumeRecord).tenant === tenant) names.push(name);
  }
  const more = tenant === undefined ? at < data.volumeNames.length : data.volumeNames.slice(at).some((name) => (data.volumes.get(name) as VolumeRecord).tenant === tenant);
  return { volumes: listOf(data, names), nextAfter: more ? (names[names.length - 1] as string) : '' };
}

/** The default tenant first, then every stored tenant by name. */
export function listTenants(data: StateData): TenantView[] {
  const stored = [...data.tenants.values()].sort((a, b) => compareStrings(a.name, b.name));
  return [tenantView(data, defaultTenant, undefined), ...stored.map((t) => tenantView(data, t.name, t))];
}

export function getTenant(data: StateData, name: string): Result<TenantView> {
  const found = findTenant(data, name);
  return found.ok ? ok(tenantView(data, name, found.value)) : found;
}

function listOf(data: StateData, names: readonly string[]): VolumeView[] {
  return names.map((name) => volumeView(data.volumes.get(name) as VolumeRecord));
}

export function getServer(data: StateData, serverId: string): Result<ServerView> {
  const found = findServer(data, serverId);
  return found.ok ? ok(serverView(found.value)) : found;
}

export function listServers(data: StateData): ServerView[] {
  return [...data.servers.values()].sort((a, b) => compareStrings(a.id, b.id)).map(serverView);
}

/** Allocated extents in [fromIndex, fromIndex + count) clipped to the volume; count is bounded. */
export function extentMap(data: StateData, name: string, fromIndex: number, count: number): Result<ExtentMapView> {
  const badFrom = checkUint('fromIndex', fromIndex);
  if (badFrom !== null) return { ok: false, error: badFrom };
  if (!Number.isSafeInteger(count) || count < 1 || count > limits.extentMapCountMax) {
    return fail(ErrorCode.InvalidArgument, `count ${count} must be an integer from 1 to ${limits.extentMapCountMax}`, { count, max: limits.extentMapCountMax });
  }
  const found = findVolume(data, name);
  if (!found.ok) return found;
  const volume = found.value;
  const extentCount = volume.sizeBytes / volume.extentSizeBytes;
  const extents = [];
  for (let index = fromIndex; index < Math.min(fromIndex + count, extentCount); index++) {
    const extent = volume.extents.get(index);
    if (extent !== undefined) extents.push(extentView(data, index, extent));
  }
  return ok({ volume: volume.name, volumeId: volume.id, generation: volume.generation, extentSizeBytes: volume.extentSizeBytes, extentCount, extents });
}

/**
 * Extents whose replicas on up servers are fewer than the volume's factor, by volume name and
 * index. Reads only the attention index (every degraded extent is in it).
 */
export function degradedExtents(data: StateData, limit: number): DegradedReport {
  const found: [VolumeRecord, number, ExtentRecord, number][] = [];
  for (const [volume, index, extent] of attentionExtents(data)) {
    const upReplicas = upReplicaCount(data, extent);
    if (upReplicas < volume.replicationFactor) found.push([volume, index, extent, upReplicas]);
  }
  found.sort(([va, ia], [vb, ib]) => byName(va, vb) || ia - ib);
  const extents: DegradedExtentView[] = found.slice(0, limit).map(([volume, index, extent, upReplicas]) => ({
    volume: volume.name, volumeId: volume.id, index, epoch: extent.epoch, replicationFactor: volume.replicationFactor, replicas: [...extent.replicas], upReplicas,
  }));
  return { total: found.length, extents };
}

/** No pass over healthy extents (attention index, allocated count): the metrics ask on every scrape. */
export function clusterCounts(data: StateData): ClusterCounts {
  let serversUp = 0;
  let serversOut = 0;
  let serversDraining = 0;
  for (const server of data.servers.values()) {
    if (server.state === 'up') serversUp += 1;
    if (server.state === 'out') serversOut += 1;
    if (server.draining) serversDraining += 1;
  }
  const r = redundancyCounts(data);
  return {
    serversUp, serversDown: data.servers.size - serversUp - serversOut, serversOut, serversDraining, volumes: data.volumes.size,
    allocatedExtents: r.allocatedExtents, degradedExtents: r.degradedExtents, rebuildingReplicas: r.rebuildingReplicas,
  };
}

/** Degraded, critical, rebuilding and waiting counts over the attention index (GetRepairStatus, metrics). */
export function redundancyCounts(data: StateData): RedundancyCounts {
  let degradedExtents = 0;
  let criticalExtents = 0;
  let rebuildingReplicas = 0;
  let waitingExtents = 0;
  for (const [volume, , extent] of attentionExtents(data)) {
    rebuildingReplicas += extent.rebuilding.length;
    const up = upReplicaCount(data, extent);
    if (up >= volume.replicationFactor) continue;
    degradedExtents += 1;
    if (up <= 1) criticalExtents += 1;
    if (extent.rebuilding.length === 0 && waitsForDown(data, extent)) waitingExtents += 1;
  }
  return { allocatedExtents: data.allocatedExtents, degradedExtents, criticalExtents, rebuildingReplicas, waitingExtents };
}

function waitsForDown(data: StateData, extent: ExtentRecord): boolean {
  const down = (id: string): boolean => data.servers.get(id)?.state === 'down';
  return extent.replicas.some(down) || extent.former.some(down);
}

/**
 * Repair tasks by primary: every extent with rebuilding members, filed under its primary, by
 * volume name and index, at most `limit` per primary. Reads only the attention index.
 */
export function repairTasksByPrimary(data: StateData, limit: number): Map<string, RepairTaskView[]> {
  const rebuilding: [VolumeRecord, number, ExtentRecord][] = [];
  for (const entry of attentionExtents(data)) if (entry[2].rebuilding.length > 0) rebuilding.push(entry);
  rebuilding.sort(([va, ia], [vb, ib]) => byName(va, vb) || ia - ib);
  const tasks = new Map<string, RepairTaskView[]>();
  for (const [volume, index, extent] of rebuilding) {
    const primary = extent.replicas[0] as string;
    const list = tasks.get(primary) ?? [];
    if (list.length === limit) continue;
    list.push({ volume: volume.name, volumeId: volume.id, extentSizeBytes: volume.extentSizeBytes, extent: extentView(data, index, extent) });
    tasks.set(primary, list);
  }
  return tasks;
}

function upReplicaCount(data: StateData, extent: ExtentRecord): number {
  let up = 0;
  for (const id of extent.replicas) if (data.servers.get(id)?.state === 'up') up += 1;
  return up;
}

export function serverExtentCount(data: StateData, serverId: string): Result<number> {
  const found = findServer(data, serverId);
  return found.ok ? ok(found.value.extentCount) : found;
}

/** The extents with a replica on the server (the leader drops them when the server is lost). */
export function extentsOnServer(data: StateData, serverId: string, limit: number): Result<ExtentRef[]> {
  const found = findServer(data, serverId);
  if (!found.ok) return found;
  const refs: ExtentRef[] = [];
  for (const volume of [...data.volumes.values()].sort(byName)) {
    for (const [index, extent] of byIndex(volume)) {
      if (refs.length === limit) return ok(refs);
      if (extent.replicas.includes(serverId) || extent.rebuilding.includes(serverId)) refs.push({ volume: volume.name, volumeId: volume.id, index, epoch: extent.epoch });
    }
  }
  return ok(refs);
}

function byName(a: VolumeRecord, b: VolumeRecord): number {
  return compareStrings(a.name, b.name);
}

function byIndex(volume: VolumeRecord): [number, ExtentRecord][] {
  return [...volume.extents.entries()].sort(([a], [b]) => a - b);
}
