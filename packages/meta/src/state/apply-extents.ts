import { assert, ErrorCode } from '@basalt/stdx';
import type { AllocateExtentCommand } from './commands.js';
import { noteExtent } from './attention.js';
import { findVolumeExtent } from './lookup.js';
import { placeReplicas } from './placement.js';
import { memberList, noMembers, type ExtentRecord, type StateData, type VolumeRecord } from './records.js';
import { fail, ok, type Result } from './result.js';
import { extentView } from './view-of.js';
import type { AllocateExtentView } from './views.js';

/** Extent replica sets: allocation on first write (changes of a set: apply-members.ts). */

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
  const extent: ExtentRecord = { replicas: rotatePrimary(data, volume, cmd.index, chosen), rebuilding: noMembers, former: noMembers, epoch: 1 };
  for (const serverId of extent.replicas) reserve(data, serverId, volume.extentSizeBytes);
  volume.extents.set(cmd.index, extent);
  data.allocatedExtents += 1;
  noteExtent(data, volume, cmd.index);
  return ok({ ...extentView(data, cmd.index, extent), created: true });
}

/**
 * Spreads primaries (which carry the write load) over the chosen servers: the primary of
 * extent i is chosen[(volumeId + i) mod n]. Deterministic, so every replica agrees.
 */
function rotatePrimary(data: StateData, volume: VolumeRecord, index: number, chosen: string[]): readonly string[] {
  const shift = (volume.id + index) % chosen.length;
  return memberList(data.memberLists, [...chosen.slice(shift), ...chosen.slice(0, shift)]);
}

/** Counts the replica on the server and books its space until the next free-space report. */
export function reserve(data: StateData, serverId: string, bytes: number): void {
  const server = data.servers.get(serverId);
  assert(server !== undefined, `placed a replica on unknown server ${serverId}`);
  server.extentCount += 1;
  server.freeBytes = Math.max(0, server.freeBytes - bytes);
}
