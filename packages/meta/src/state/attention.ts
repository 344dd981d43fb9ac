import { assert } from '@basalt/stdx';
import type { ExtentRecord, StateData, VolumeRecord } from './records.js';

/**
 * The attention index: the extents that are not plainly healthy, kept by the apply handlers so
 * that the repair planner, the redundancy counts and the degraded listing touch only them, never
 * the (usually) million healthy ones.
 *
 * An extent needs attention when it has rebuilding members, when its active members are not
 * exactly its factor, or when an active member is on a server that is not up or is draining.
 * Every extent the planner may act on (repair-planner.ts mayNeedAction), every degraded extent
 * (fewer active members on up servers than the factor) and every extent with a repair task is
 * in it. Invariant: `data.attention` holds exactly those extents (checkInvariants compares it
 * with rebuildAttention on a copy).
 *
 * Cost: a change of one extent refreshes that extent; a change of a server's state or draining
 * flag (rare: failures, operators) rebuilds the index in one pass over the extents.
 */

export function needsAttention(data: StateData, volume: VolumeRecord, extent: ExtentRecord): boolean {
  if (extent.rebuilding.length > 0 || extent.replicas.length !== volume.replicationFactor) return true;
  for (const id of extent.replicas) {
    const server = data.servers.get(id);
    if (server === undefined || server.state !== 'up' || server.draining) return true;
  }
  return false;
}

/** Files or unfiles one extent after a change of its set (allocation, drop, add, promotion). */
export function noteExtent(data: StateData, volume: VolumeRecord, index: number): void {
  const extent = volume.extents.get(index);
  const flagged = data.attention.get(volume.name);
  if (extent !== undefined && needsAttention(data, volume, extent)) {
    if (flagged === undefined) data.attention.set(volume.name, new Set([index]));
    else flagged.add(index);
    return;
  }
  if (flagged === undefined) return;
  flagged.delete(index);
  if (flagged.size === 0) data.attention.delete(volume.name);
}

/** Called as a volume is deleted: its extents leave the index and the allocated count. */
export function forgetVolume(data: StateData, volume: VolumeRecord): void {
  data.attention.delete(volume.name);
  data.allocatedExtents -= volume.extents.size;
  assert(data.allocatedExtents >= 0, 'allocated extent count went negative');
}

/** After a server's state or draining flag changed, or a server left: one pass over every extent. */
export function rebuildAttention(data: StateData): void {
  data.attention.clear();
  let allocated = 0;
  for (const volume of data.volumes.values()) {
    allocated += volume.extents.size;
    let flagged: Set<number> | undefined;
    for (const [index, extent] of volume.extents) {
      if (!needsAttention(data, volume, extent)) continue;
      flagged ??= new Set();
      flagged.add(index);
    }
    if (flagged !== undefined) data.attention.set(volume.name, flagged);
  }
  data.allocatedExtents = allocated;
}

/** The flagged extents with their volumes, in no particular order (callers sort). */
export function* attentionExtents(data: StateData): Generator<[VolumeRecord, number, ExtentRecord]> {
  for (const [name, indexes] of data.attention) {
    const volume = data.volumes.get(name);
    assert(volume !== undefined, `attention index names deleted volume ${name}`);
    for (const index of indexes) {
      const extent = volume.extents.get(index);
      assert(extent !== undefined, `attention index names unallocated extent ${index} of ${name}`);
      yield [volume, index, extent];
    }
  }
}
