import { assert, ErrorCode } from '@basalt/stdx';
import type { AllocateExtentCommand, DropReplicaCommand } from './commands.js';
import { findVolumeExtent } from './lookup.js';
import { placeReplicas } from './placement.js';
import { replicaList, type ExtentRecord, type StateData, type VolumeRecord } from './records.js';
import { fail, ok, type Result } from './result.js';
import { extentView } from './view-of.js';
import type { AllocateExtentView, ExtentView } from './views.js';

/** Extent replica sets: allocation on first write and removal of failed replicas. */

export function applyAllocateExtent(data: StateData, cmd: AllocateExtentCommand): Result<AllocateExtentView> {
  const found = findVolumeExtent(data, cmd.name, cmd.index);
  if (!found.ok) return found;
  const volume = found.value;
  const existing = volume.extents.get(cmd.index);
  if (existing !== undefined) return ok({ ...extentView(data, cmd.index, existing), created: false });
  const candidates = [...data.servers.values()].filter((s) => s.state === 'up' && !s.draining);
  const factor = volume.replicationFactor;
  const needed = Math.min(cmd.minReplicas ?? factor, factor);
  if (candidates.length < needed) {
    const atLeast = needed < factor ? ` (at least ${needed})` : '';
    return fail(ErrorCode.NotEnoughServers, `volume ${volume.name} needs ${factor} replicas${atLeast} but only ${candidates.length} chunk servers are up and not draining`, {
      volume: volume.name,
      needed,
      eligible: candidates.length,
    });
  }
  // Degraded (fewer than the factor) only when the caller allowed it; re-replication restores the set.
  const chosen = placeReplicas({ candidates, count: Math.min(factor, candidates.length), existing: [] });
  assert(chosen !== null, 'placement refused a count within the candidates');
  const extent: ExtentRecord = { replicas: rotatePrimary(volume, cmd.index, chosen), epoch: 1 };
  for (const serverId of extent.replicas) reserve(data, serverId, volume.extentSizeBytes);
  volume.extents.set(cmd.index, extent);
  return ok({ ...extentView(data, cmd.index, extent), created: true });
}

/**
 * Spreads primaries (which carry the write load) over the chosen servers: the primary of
 * extent i is chosen[(volumeId + i) mod n]. Deterministic, so every replica agrees.
 */
function rotatePrimary(volume: VolumeRecord, index: number, chosen: string[]): string[] {
  const shift = (volume.id + index) % chosen.length;
  return replicaList([...chosen.slice(shift), ...chosen.slice(0, shift)]);
}

/** Counts the replica on the server and books its space until the next heartbeat reports. */
function reserve(data: StateData, serverId: string, bytes: number): void {
  const server = data.servers.get(serverId);
  assert(server !== undefined, `placed a replica on unknown server ${serverId}`);
  server.extentCount += 1;
  server.freeBytes = Math.max(0, server.freeBytes - bytes);
}

export function applyDropReplica(data: StateData, cmd: DropReplicaCommand): Result<ExtentView> {
  const found = findVolumeExtent(data, cmd.name, cmd.index);
  if (!found.ok) return found;
  const volume = found.value;
  const extent = volume.extents.get(cmd.index);
  const where = { volume: volume.name, index: cmd.index };
  if (extent === undefined) return fail(ErrorCode.ExtentNotAllocated, `extent ${cmd.index} of volume ${volume.name} has no replicas yet`, where);
  if (extent.epoch !== cmd.expectedEpoch) {
    return fail(ErrorCode.StaleEpoch, `extent ${cmd.index} of volume ${volume.name} is at epoch ${extent.epoch}, not ${cmd.expectedEpoch}; re-read the extent map`, {
      ...where,
      epoch: extent.epoch,
      expectedEpoch: cmd.expectedEpoch,
    });
  }
  if (!extent.replicas.includes(cmd.serverId)) {
    return fail(ErrorCode.ReplicaNotFound, `server ${cmd.serverId} holds no replica of extent ${cmd.index} of volume ${volume.name}`, { ...where, serverId: cmd.serverId });
  }
  if (extent.replicas.length === 1) {
    return fail(ErrorCode.LastReplica, `server ${cmd.serverId} holds the last replica of extent ${cmd.index} of volume ${volume.name}; it cannot be dropped`, { ...where, serverId: cmd.serverId });
  }
  extent.replicas = withPrimaryUp(data, extent.replicas.filter((id) => id !== cmd.serverId));
  extent.epoch += 1;
  const server = data.servers.get(cmd.serverId);
  assert(server !== undefined && server.extentCount > 0, `extent count of ${cmd.serverId} out of step`);
  server.extentCount -= 1;
  return ok(extentView(data, cmd.index, extent));
}

/** Keeps the primary if it is up; otherwise promotes the first survivor that is up. */
function withPrimaryUp(data: StateData, replicas: string[]): string[] {
  const upAt = replicas.findIndex((id) => data.servers.get(id)?.state === 'up');
  if (upAt <= 0) return replicaList(replicas);
  return replicaList([replicas[upAt] as string, ...replicas.slice(0, upAt), ...replicas.slice(upAt + 1)]);
}
