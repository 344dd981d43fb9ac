import { ErrorCode, limits } from '@basalt/stdx';
import type {
  HeartbeatCommand,
  MarkServerDownCommand,
  MarkServerUpCommand,
  RegisterServerCommand,
  RemoveServerCommand,
  SetServerDrainingCommand,
} from './commands.js';
import { findServer } from './lookup.js';
import type { StateData } from './records.js';
import { fail, ok, type Result } from './result.js';
import { serverView } from './view-of.js';
import type { ServerView, ServerState } from './views.js';

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
  if (server.state !== 'up') server.stateSinceMs = cmd.nowMs;
  server.address = cmd.address;
  server.zone = cmd.zone;
  server.capacityBytes = cmd.capacityBytes;
  server.freeBytes = cmd.freeBytes;
  server.state = 'up';
  server.lastHeartbeatMs = cmd.nowMs;
  data.servers.set(server.id, server);
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

export function applyMarkServer(data: StateData, cmd: MarkServerDownCommand | MarkServerUpCommand): Result<ServerView> {
  const found = findServer(data, cmd.serverId);
  if (!found.ok) return found;
  const server = found.value;
  const state: ServerState = cmd.type === 'markServerDown' ? 'down' : 'up';
  if (server.state !== state) {
    server.state = state;
    server.stateSinceMs = cmd.nowMs;
  }
  return ok(serverView(server));
}

export function applySetServerDraining(data: StateData, cmd: SetServerDrainingCommand): Result<ServerView> {
  const found = findServer(data, cmd.serverId);
  if (!found.ok) return found;
  found.value.draining = cmd.draining;
  return ok(serverView(found.value));
}

export function applyRemoveServer(data: StateData, cmd: RemoveServerCommand): Result<ServerView> {
  const found = findServer(data, cmd.serverId);
  if (!found.ok) return found;
  const server = found.value;
  if (server.extentCount > 0) {
    return fail(ErrorCode.ServerBusy, `server ${server.id} still holds ${server.extentCount} extent replicas; drop them (dropReplica) before removing it`, {
      serverId: server.id,
      extentCount: server.extentCount,
    });
  }
  data.servers.delete(server.id);
  return ok(serverView(server));
}
