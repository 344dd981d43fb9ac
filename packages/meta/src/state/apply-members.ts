import { noteExtent } from './attention.js';
import { assert, ErrorCode } from '@basalt/stdx';
import type { AddRebuildingCommand, DropReplicaCommand, PromoteReplicaCommand } from './commands.js';
import { reserve } from './apply-extents.js';
import { findVolumeExtent } from './lookup.js';
import { memberList, type ExtentRecord, type StateData, type VolumeRecord } from './records.js';
import { fail, ok, type Result } from './result.js';
import { extentView } from './view-of.js';
import type { ExtentView } from './views.js';

/**
 * Changes of an extent's replica set: drop a member, add a rebuilding member, promote one. Only
 * metad's leader proposes these (the planner, or its decision on a chunk server's report).
 *
 * Epoch rules: every change of the set (membership, order, a member's state) bumps the epoch by
 * exactly one; a command names the epoch it was decided at and is refused (BASALT_STALE_EPOCH)
 * when the set moved on since. A refused command changes nothing.
 * Safety rules: the last active member is never dropped; a rebuilding member never becomes
 * primary; when the primary is dropped (or is not up) the first active member that is up leads.
 */

interface Found {
  readonly volume: VolumeRecord;
  readonly extent: ExtentRecord;
}

/** The extent at the expected epoch, or the refusal. */
export function findAtEpoch(data: StateData, name: string, index: number, expectedEpoch: number): Result<Found> {
  const found = findVolumeExtent(data, name, index);
  if (!found.ok) return found;
  const volume = found.value;
  const extent = volume.extents.get(index);
  const where = { volume: volume.name, index };
  if (extent === undefined) return fail(ErrorCode.ExtentNotAllocated, `extent ${index} of volume ${volume.name} has no replicas yet`, where);
  if (extent.epoch !== expectedEpoch) {
    return fail(ErrorCode.StaleEpoch, `extent ${index} of volume ${volume.name} is at epoch ${extent.epoch}, not ${expectedEpoch}; re-read the extent map`, {
      ...where,
      epoch: extent.epoch,
      expectedEpoch,
    });
  }
  return ok({ volume, extent });
}

export function applyDropReplica(data: StateData, cmd: DropReplicaCommand): Result<ExtentView> {
  const found = findAtEpoch(data, cmd.name, cmd.index, cmd.expectedEpoch);
  if (!found.ok) return found;
  const { volume, extent } = found.value;
  const refusal = dropRefusal(volume, cmd.index, extent, cmd.serverId);
  if (refusal !== null) return refusal;
  dropMember(data, volume, extent, cmd.serverId, cmd.reason);
  noteExtent(data, volume, cmd.index);
  return ok(extentView(data, cmd.index, extent));
}

/** Why the server cannot be dropped from the extent's set now, or null. */
export function dropRefusal(volume: VolumeRecord, index: number, extent: ExtentRecord, serverId: string): Result<never> | null {
  const where = { volume: volume.name, index, serverId };
  if (!extent.replicas.includes(serverId) && !extent.rebuilding.includes(serverId)) {
    return fail(ErrorCode.ReplicaNotFound, `server ${serverId} holds no replica of extent ${index} of volume ${volume.name}`, where);
  }
  if (extent.replicas.length === 1 && extent.replicas[0] === serverId) {
    return fail(ErrorCode.LastReplica, `server ${serverId} holds the last active replica of extent ${index} of volume ${volume.name}; it cannot be dropped`, where);
  }
  return null;
}

/** Drop reasons that say the member went away, not that its disk failed: its copy is still there. */
const goneReasons: ReadonlySet<string> = new Set(['unreachable', 'timeout', 'rebuild_target_down']);

/**
 * Drops a member that dropRefusal() allowed; epoch + 1. A dropped active member on a server
 * that is not out joins `former` (its copy may serve a cheap catch-up); a dropped rebuilding
 * member does not (its copy never completed), except that a catch-up target (a former member
 * being added back) that went away stays former: its older copy is still on disk, and the
 * planner waits for it as for any former member that is down, instead of a whole new copy
 * elsewhere. A catch-up target whose copy failed otherwise (no space, I/O, checksum) leaves former.
 */
export function dropMember(data: StateData, volume: VolumeRecord, extent: ExtentRecord, serverId: string, reason?: string): void {
  const server = data.servers.get(serverId);
  assert(server !== undefined && server.extentCount > 0, `extent count of ${serverId} out of step`);
  if (extent.rebuilding.includes(serverId)) {
    extent.rebuilding = memberList(data.memberLists, extent.rebuilding.filter((id) => id !== serverId));
    const keepsCopy = reason !== undefined && goneReasons.has(reason) && server.state !== 'out';
    if (!keepsCopy && extent.former.includes(serverId)) extent.former = memberList(data.memberLists, extent.former.filter((id) => id !== serverId));
  } else {
    assert(extent.replicas.length > 1, 'dropping the last active member');
    extent.replicas = withPrimaryUp(data, extent.replicas.filter((id) => id !== serverId));
    if (server.state !== 'out') extent.former = withFormer(data, extent.former, serverId, volume.replicationFactor);
  }
  extent.epoch += 1;
  server.extentCount -= 1;
}

/**
 * `former` with the server appended (at most `factor` entries: the oldest leave first). An entry
 * also leaves when the server's catch-up is promoted or fails (see dropMember), or the server is
 * marked out or removed.
 */
function withFormer(data: StateData, former: readonly string[], serverId: string, factor: number): readonly string[] {
  const next = [...former.filter((id) => id !== serverId), serverId];
  return memberList(data.memberLists, next.slice(Math.max(0, next.length - factor)));
}

/** Keeps the primary if it is up; otherwise the first active member that is up leads. */
function withPrimaryUp(data: StateData, replicas: string[]): readonly string[] {
  const upAt = replicas.findIndex((id) => data.servers.get(id)?.state === 'up');
  if (upAt <= 0) return memberList(data.memberLists, replicas);
  return memberList(data.memberLists, [replicas[upAt] as string, ...replicas.slice(0, upAt), ...replicas.slice(upAt + 1)]);
}

export function applyAddRebuilding(data: StateData, cmd: AddRebuildingCommand): Result<ExtentView> {
  const found = findAtEpoch(data, cmd.name, cmd.index, cmd.expectedEpoch);
  if (!found.ok) return found;
  const { volume, extent } = found.value;
  const where = { volume: volume.name, index: cmd.index, serverId: cmd.serverId };
  const server = data.servers.get(cmd.serverId);
  if (server === undefined) return fail(ErrorCode.ServerNotFound, `no chunk server with id ${JSON.stringify(cmd.serverId)}`, { serverId: cmd.serverId });
  if (server.state !== 'up' || server.draining) {
    const why = server.draining ? 'draining' : server.state;
    return fail(ErrorCode.Unavailable, `server ${server.id} is ${why}: it cannot receive a replica`, { ...where, state: server.state, draining: server.draining });
  }
  if (extent.replicas.includes(server.id) || extent.rebuilding.includes(server.id)) {
    return fail(ErrorCode.InvalidArgument, `server ${server.id} is already a member of extent ${cmd.index} of volume ${volume.name}`, where);
  }
  const max = membersMax(volume);
  if (extent.replicas.length + extent.rebuilding.length >= max) {
    return fail(ErrorCode.LimitExceeded, `extent ${cmd.index} of volume ${volume.name} already has ${max} members, the most allowed`, { ...where, max });
  }
  // A former member added back stays in `former` until its catch-up is promoted (dropMember).
  extent.rebuilding = memberList(data.memberLists, [...extent.rebuilding, server.id]);
  reserve(data, server.id, volume.extentSizeBytes);
  extent.epoch += 1;
  noteExtent(data, volume, cmd.index);
  return ok(extentView(data, cmd.index, extent));
}

/** Active + rebuilding members of one extent: the factor, plus as many again while members drain. */
export function membersMax(volume: VolumeRecord): number {
  return 2 * volume.replicationFactor;
}

export function applyPromoteReplica(data: StateData, cmd: PromoteReplicaCommand): Result<ExtentView> {
  const found = findAtEpoch(data, cmd.name, cmd.index, cmd.expectedEpoch);
  if (!found.ok) return found;
  const { volume, extent } = found.value;
  const where = { volume: volume.name, index: cmd.index, serverId: cmd.serverId };
  if (!extent.rebuilding.includes(cmd.serverId)) {
    return fail(ErrorCode.ReplicaNotFound, `server ${cmd.serverId} is not a rebuilding member of extent ${cmd.index} of volume ${volume.name}`, where);
  }
  const server = data.servers.get(cmd.serverId);
  assert(server !== undefined, `rebuilding member on unknown server ${cmd.serverId}`);
  if (server.state !== 'up') {
    return fail(ErrorCode.Unavailable, `server ${server.id} is ${server.state}: its copy is not promoted`, { ...where, state: server.state });
  }
  extent.rebuilding = memberList(data.memberLists, extent.rebuilding.filter((id) => id !== server.id));
  if (extent.former.includes(server.id)) extent.former = memberList(data.memberLists, extent.former.filter((id) => id !== server.id));
  extent.replicas = memberList(data.memberLists, [...extent.replicas, server.id]);
  extent.epoch += 1;
  noteExtent(data, volume, cmd.index);
  return ok(extentView(data, cmd.index, extent));
}
