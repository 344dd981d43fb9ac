import { assert, ErrorCode, limits } from '@basalt/stdx';
import type {
  HeartbeatCommand,
  MarkServerDownCommand,
  MarkServerOutCommand,
  MarkServerUpCommand,
  RegisterServerCommand,
  RemoveServerCommand,
  SetServerDrainingCommand,
} from './commands.js';
import { rebuildAttention } from './attention.js';
import { dropMember } from './apply-members.js';
import { findServer } from './lookup.js';
import { compareStrings } from './order.js';
import { memberList, type ServerRecord, type StateData } from './records.js';
import { fail, ok, type Result } from './result.js';
import { serverView } from './view-of.js';
import type { ServerView } from './views.js';

/** Chunk server membership. Each handler validates fully before it changes anything. */

export function applyRegisterServer(data: StateData, cmd: RegisterServerCommand): Result<ServerView> {
  const known = data.servers.get(cmd.serverId);
  if (known === undefined && data.servers.size >= limits.chunkServersMax) {
    return fail(ErrorCode.LimitExceeded, `the cluster already has ${limits.chunkServersMax} chunk servers, the most allowed`, { max: limits.chunkServersMax });
  }
  const server = known ?? {
    id: cmd.serverId,
    address: cmd.address,
    zone: cmd.zone,
    capacityBytes: cmd.capacityBytes,
    freeBytes: cmd.freeBytes,
    state: 'up' as const,
    stateSinceMs: cmd.nowMs,
    draining: false,
    lastHeartbeatMs: cmd.nowMs,
    extentCount: 0,
  };
  const wasUp = known === undefined || known.state === 'up';
  if (server.state !== 'up') server.stateSinceMs = cmd.nowMs;
  server.address = cmd.address;
  server.zone = cmd.zone;
  server.capacityBytes = cmd.capacityBytes;
  server.freeBytes = cmd.freeBytes;
  server.state = 'up';
  server.lastHeartbeatMs = cmd.nowMs;
  data.servers.set(server.id, server);
  if (!wasUp) rebuildAttention(data);
  return ok(serverView(server));
}

export function applyHeartbeat(data: StateData, cmd: HeartbeatCommand): Result<ServerView> {
  const found = findServer(data, cmd.serverId);
  if (!found.ok) return found;
  const server = found.value;
  if (cmd.freeBytes > server.capacityBytes) {
    return fail(ErrorCode.InvalidArgument, `freeBytes ${cmd.freeBytes} exceeds the capacity ${server.capacityBytes} of server ${server.id}; re-register to change the capacity`, {
      serverId: server.id,
      freeBytes: cmd.freeBytes,
      capacityBytes: server.capacityBytes,
    });
  }
  server.freeBytes = cmd.freeBytes;
  server.lastHeartbeatMs = cmd.nowMs;
  return ok(serverView(server));
}

/** Down <-> up. An out server stays out (it comes back only by registering again): a no-op. */
export function applyMarkServer(data: StateData, cmd: MarkServerDownCommand | MarkServerUpCommand): Result<ServerView> {
  const found = findServer(data, cmd.serverId);
  if (!found.ok) return found;
  const server = found.value;
  const state = cmd.type === 'markServerDown' ? 'down' : 'up';
  if (server.state !== state && server.state !== 'out') {
    server.state = state;
    server.stateSinceMs = cmd.nowMs;
    rebuildAttention(data);
  }
  return ok(serverView(server));
}

/** Out: its replicas are to be rebuilt elsewhere, so its copies stop being catch-up candidates. */
export function applyMarkServerOut(data: StateData, cmd: MarkServerOutCommand): Result<ServerView> {
  const found = findServer(data, cmd.serverId);
  if (!found.ok) return found;
  const server = found.value;
  if (server.state !== 'out') {
    server.state = 'out';
    server.stateSinceMs = cmd.nowMs;
    rebuildAttention(data);
  }
  forgetFormer(data, server.id);
  return ok(serverView(server));
}

/** Takes the server out of every `former` list (not a change of any set: no epoch changes). */
function forgetFormer(data: StateData, serverId: string): void {
  for (const volume of data.volumes.values()) {
    for (const extent of volume.extents.values()) {
      if (extent.former.includes(serverId)) extent.former = memberList(data.memberLists, extent.former.filter((id) => id !== serverId));
    }
  }
}

export function applySetServerDraining(data: StateData, cmd: SetServerDrainingCommand): Result<ServerView> {
  const found = findServer(data, cmd.serverId);
  if (!found.ok) return found;
  if (found.value.draining !== cmd.draining) {
    found.value.draining = cmd.draining;
    rebuildAttention(data);
  }
  return ok(serverView(found.value));
}

export function applyRemoveServer(data: StateData, cmd: RemoveServerCommand): Result<ServerView> {
  const found = findServer(data, cmd.serverId);
  if (!found.ok) return found;
  const server = found.value;
  const refusal = cmd.dropFromSets === true ? onlyCopyRefusal(data, server) : membersRefusal(server);
  if (refusal !== null) return refusal;
  if (cmd.dropFromSets === true) dropEverywhere(data, server.id);
  forgetFormer(data, server.id);
  assert(server.extentCount === 0, `removed server ${server.id} is still in ${server.extentCount} sets`);
  data.servers.delete(server.id);
  rebuildAttention(data);
  return ok(serverView(server));
}

function membersRefusal(server: ServerRecord): Result<never> | null {
  if (server.extentCount === 0) return null;
  return fail(ErrorCode.ServerBusy, `server ${server.id} still holds ${server.extentCount} extent replicas; drop them (dropReplica) before removing it`, {
    serverId: server.id,
    extentCount: server.extentCount,
  });
}

/** Refused while the server is the only active member of any extent (it holds the only good copy). */
function onlyCopyRefusal(data: StateData, server: ServerRecord): Result<never> | null {
  let count = 0;
  let first: { volume: string; index: number } | null = null;
  for (const volume of data.volumes.values()) {
    for (const [index, extent] of volume.extents) {
      if (extent.replicas.length !== 1 || extent.replicas[0] !== server.id) continue;
      count += 1;
      const before = first === null || compareStrings(volume.name, first.volume) < 0 || (volume.name === first.volume && index < first.index);
      if (before) first = { volume: volume.name, index };
    }
  }
  if (first === null) return null;
  return fail(ErrorCode.ServerBusy, `server ${server.id} holds the only active copy of ${count} extents (extent ${first.index} of volume ${first.volume} first); wait for repair or drain it`, {
    serverId: server.id,
    onlyCopies: count,
    ...first,
  });
}

function dropEverywhere(data: StateData, serverId: string): void {
  for (const volume of data.volumes.values()) {
    for (const extent of volume.extents.values()) {
      if (extent.replicas.includes(serverId) || extent.rebuilding.includes(serverId)) dropMember(data, volume, extent, serverId);
    }
  }
}
