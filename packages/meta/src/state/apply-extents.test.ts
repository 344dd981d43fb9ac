import { ErrorCode, GiB, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import type { CreateVolumeCommand } from './commands.js';
import { MetaState } from './meta-state.js';
import { must, refuse, registerServers, threeZoneState } from './test-fixtures.js';

const create: CreateVolumeCommand = { type: 'createVolume', name: 'v', sizeBytes: 1 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 1 };
const allocate = (index: number, name = 'v') => ({ type: 'allocateExtent', name, index }) as const;

function ids(replicas: readonly { serverId: string }[]): string[] {
  return replicas.map((r) => r.serverId).sort();
}

describe('extent allocation and placement', () => {
  it('gives a new extent a replica set in three distinct zones at epoch 1, with addresses', () => {
    const state = threeZoneState();
    must(state, create);
    const extent = must(state, allocate(0));
    expect(extent.created).toBe(true);
    expect(extent.epoch).toBe(1);
    expect(ids(extent.replicas)).toEqual(['s1', 's2', 's3']);
    expect(extent.primary).toBe(extent.replicas[0]!.serverId);
    expect(extent.replicas.find((r) => r.serverId === 's2')!.address).toBe('127.0.0.1:7002');
    expect(state.getVolume('v')).toMatchObject({ ok: true, value: { allocatedExtents: 1 } });
  });

  it('is idempotent: a second allocation returns the same set and changes nothing', () => {
    const state = threeZoneState();
    must(state, create);
    const first = must(state, allocate(3));
    const hash = state.hash();
    const again = must(state, allocate(3));
    expect(again).toEqual({ ...first, created: false });
    expect(state.hash()).toBe(hash);
  });

  it('prefers distinct zones over free space', () => {
    const state = MetaState.empty();
    registerServers(state, [
      { id: 'a1', zone: 'za', freeBytes: 90 * GiB },
      { id: 'a2', zone: 'za', freeBytes: 80 * GiB },
      { id: 'b1', zone: 'zb', freeBytes: 10 * GiB },
      { id: 'c1', zone: 'zc', freeBytes: 5 * GiB },
    ]);
    must(state, create);
    expect(ids(must(state, allocate(0)).replicas)).toEqual(['a1', 'b1', 'c1']);
  });

  it('within a zone, and across zones when there are more, picks the servers with most free bytes', () => {
    const state = MetaState.empty();
    registerServers(state, [
      { id: 'a1', zone: 'za', freeBytes: 10 * GiB },
      { id: 'a2', zone: 'za', freeBytes: 50 * GiB },
      { id: 'b1', zone: 'zb', freeBytes: 40 * GiB },
      { id: 'c1', zone: 'zc', freeBytes: 1 * GiB },
      { id: 'd1', zone: 'zd', freeBytes: 30 * GiB },
    ]);
    must(state, create);
    expect(ids(must(state, allocate(0)).replicas)).toEqual(['a2', 'b1', 'd1']);
  });

  it('with fewer zones than the factor, uses distinct servers and reuses zones', () => {
    const state = MetaState.empty();
    registerServers(state, [
      { id: 'a1', zone: 'za' },
      { id: 'a2', zone: 'za' },
      { id: 'b1', zone: 'zb' },
    ]);
    must(state, create);
    const extent = must(state, allocate(0));
    expect(ids(extent.replicas)).toEqual(['a1', 'a2', 'b1']);
  });

  it('books placed space so that a burst of allocations spreads over equal servers', () => {
    const state = MetaState.empty();
    registerServers(state, Array.from({ length: 6 }, (_, i) => ({ id: `s${i}`, zone: `z${i % 3}`, freeBytes: 10 * GiB })));
    must(state, { ...create, replicationFactor: 1, extentSizeBytes: 1 * GiB, sizeBytes: 6 * GiB });
    for (let i = 0; i < 6; i++) must(state, allocate(i));
    expect(state.listServers().map((s) => s.extentCount)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(state.listServers().map((s) => s.freeBytes)).toEqual(Array(6).fill(9 * GiB));
  });

  it('rotates the primary over the set so the write load spreads', () => {
    const state = threeZoneState();
    must(state, create);
    const primaries = new Set([0, 1, 2].map((i) => must(state, allocate(i)).primary));
    expect(primaries).toEqual(new Set(['s1', 's2', 's3']));
  });

  it('skips down and draining servers; too few left is BASALT_NOT_ENOUGH_SERVERS', () => {
    const state = MetaState.empty();
    registerServers(state, ['a', 'b', 'c', 'd'].map((id) => ({ id, zone: `z-${id}` })));
    must(state, create);
    must(state, { type: 'markServerDown', serverId: 'a', nowMs: 2 });
    must(state, { type: 'setServerDraining', serverId: 'b', draining: true });
    const details = refuse(state, allocate(0), ErrorCode.NotEnoughServers);
    expect(details).toEqual({ volume: 'v', needed: 3, eligible: 2 });
    must(state, { type: 'markServerUp', serverId: 'a', nowMs: 3 });
    expect(ids(must(state, allocate(0)).replicas)).toEqual(['a', 'c', 'd']);
  });

  it('places degraded on every server up when the caller allows it and enough are up; never below its minimum', () => {
    const state = MetaState.empty();
    registerServers(state, ['a', 'b', 'c'].map((id) => ({ id, zone: `z-${id}` })));
    must(state, create);
    must(state, { type: 'markServerDown', serverId: 'b', nowMs: 2 });
    // Without minReplicas (and so every entry written before it existed) the whole factor is needed.
    expect(refuse(state, allocate(0), ErrorCode.NotEnoughServers)).toEqual({ volume: 'v', needed: 3, eligible: 2 });
    const degraded = must(state, { ...allocate(0), minReplicas: 2 });
    expect(degraded.created).toBe(true);
    expect(ids(degraded.replicas)).toEqual(['a', 'c']);
    expect(degraded.epoch).toBe(1);
    expect(state.degradedExtents()).toMatchObject({ total: 1, extents: [{ volume: 'v', index: 0 }] });
    expect(state.clusterCounts()).toEqual({ serversUp: 2, serversDown: 1, serversOut: 0, rebuildingReplicas: 0, serversDraining: 0, volumes: 1, allocatedExtents: 1, degradedExtents: 1 });
    // Allowed degraded, but the whole factor is up again: the whole factor it gets.
    must(state, { type: 'markServerUp', serverId: 'b', nowMs: 3 });
    expect(ids(must(state, { ...allocate(1), minReplicas: 2 }).replicas)).toEqual(['a', 'b', 'c']);
    must(state, { type: 'setServerDraining', serverId: 'a', draining: true });
    expect(state.clusterCounts()).toEqual({ serversUp: 3, serversDown: 0, serversOut: 0, rebuildingReplicas: 0, serversDraining: 1, volumes: 1, allocatedExtents: 2, degradedExtents: 1 });
    must(state, { type: 'setServerDraining', serverId: 'a', draining: false });
    must(state, { type: 'markServerDown', serverId: 'b', nowMs: 4 });
    must(state, { type: 'markServerDown', serverId: 'c', nowMs: 5 });
    const message = state.apply({ ...allocate(2), minReplicas: 2 });
    expect(message).toMatchObject({ ok: false, error: { code: ErrorCode.NotEnoughServers, details: { volume: 'v', needed: 2, eligible: 1 } } });
    expect(message.ok ? '' : message.error.message).toContain('needs 3 replicas (at least 2) but only 1 chunk servers are up');
    // A minimum above the factor asks for the factor; one out of bounds is refused.
    expect(refuse(state, { ...allocate(2), minReplicas: 5 }, ErrorCode.NotEnoughServers)).toEqual({ volume: 'v', needed: 3, eligible: 1 });
    refuse(state, { ...allocate(2), minReplicas: 9 }, ErrorCode.InvalidArgument);
    refuse(state, { ...allocate(2), minReplicas: 0 }, ErrorCode.InvalidArgument);
    refuse(state, { ...allocate(2), minReplicas: 1.5 }, ErrorCode.InvalidArgument);
  });

  it('refuses an index past the end, a negative or fractional index, and an unknown volume', () => {
    const state = threeZoneState();
    must(state, create);
    expect(refuse(state, allocate(16), ErrorCode.OutOfRange)).toEqual({ volume: 'v', index: 16, extentCount: 16 });
    must(state, allocate(15));
    refuse(state, allocate(-1), ErrorCode.InvalidArgument);
    refuse(state, allocate(0.5), ErrorCode.InvalidArgument);
    refuse(state, allocate(0, 'w'), ErrorCode.VolumeNotFound);
  });

  it('after growing a volume, the new extents can be allocated', () => {
    const state = threeZoneState();
    must(state, create);
    refuse(state, allocate(20), ErrorCode.OutOfRange);
    must(state, { type: 'resizeVolume', name: 'v', sizeBytes: 2 * GiB });
    expect(must(state, allocate(20)).created).toBe(true);
  });
});

describe('dropping a replica', () => {
  function allocatedState() {
    const state = MetaState.empty();
    registerServers(state, ['a', 'b', 'c', 'd'].map((id) => ({ id, zone: `z-${id}` })));
    must(state, create);
    const extent = must(state, allocate(0));
    return { state, extent };
  }

  it('removes the server from the set and bumps the epoch', () => {
    const { state, extent } = allocatedState();
    const secondary = extent.replicas[1]!.serverId;
    const after = must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: secondary, expectedEpoch: 1 });
    expect(after.epoch).toBe(2);
    expect(after.primary).toBe(extent.primary);
    expect(ids(after.replicas)).toEqual(ids(extent.replicas).filter((id) => id !== secondary));
    expect(state.serverExtentCount(secondary)).toEqual({ ok: true, value: 0 });
  });

  it('promotes a surviving up replica when the primary is dropped', () => {
    const { state, extent } = allocatedState();
    const [primary, second, third] = extent.replicas.map((r) => r.serverId);
    must(state, { type: 'markServerDown', serverId: second!, nowMs: 5 });
    const after = must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: primary!, expectedEpoch: 1 });
    expect(after.primary).toBe(third);
    expect(after.replicas.map((r) => r.serverId)).toEqual([third, second]);
  });

  it('refuses a stale epoch with BASALT_STALE_EPOCH and the current epoch', () => {
    const { state, extent } = allocatedState();
    const [p, s1, s2] = extent.replicas.map((r) => r.serverId);
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: s1!, expectedEpoch: 1 });
    const details = refuse(state, { type: 'dropReplica', name: 'v', index: 0, serverId: s2!, expectedEpoch: 1 }, ErrorCode.StaleEpoch);
    expect(details).toEqual({ volume: 'v', index: 0, epoch: 2, expectedEpoch: 1 });
    refuse(state, { type: 'dropReplica', name: 'v', index: 0, serverId: p!, expectedEpoch: 3 }, ErrorCode.StaleEpoch);
  });

  it('refuses to drop the last replica, a server not in the set, or an unallocated extent', () => {
    const { state, extent } = allocatedState();
    const [p, s1, s2] = extent.replicas.map((r) => r.serverId);
    const outsider = ['a', 'b', 'c', 'd'].find((id) => !extent.replicas.some((r) => r.serverId === id))!;
    refuse(state, { type: 'dropReplica', name: 'v', index: 0, serverId: outsider, expectedEpoch: 1 }, ErrorCode.ReplicaNotFound);
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: s1!, expectedEpoch: 1 });
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: s2!, expectedEpoch: 2 });
    refuse(state, { type: 'dropReplica', name: 'v', index: 0, serverId: p!, expectedEpoch: 3 }, ErrorCode.LastReplica);
    refuse(state, { type: 'dropReplica', name: 'v', index: 1, serverId: p!, expectedEpoch: 1 }, ErrorCode.ExtentNotAllocated);
    refuse(state, { type: 'dropReplica', name: 'v', index: 99, serverId: p!, expectedEpoch: 1 }, ErrorCode.OutOfRange);
    refuse(state, { type: 'dropReplica', name: 'x', index: 0, serverId: p!, expectedEpoch: 1 }, ErrorCode.VolumeNotFound);
  });
});

describe('extent queries', () => {
  it('extentMap lists the allocated extents of a range, clipped to the volume', () => {
    const state = threeZoneState();
    must(state, create);
    for (const i of [1, 4, 15]) must(state, allocate(i));
    const map = state.extentMap('v', 2, 100);
    expect(map.ok && map.value.extents.map((e) => e.index)).toEqual([4, 15]);
    expect(map).toMatchObject({ ok: true, value: { volume: 'v', volumeId: 1, generation: 0, extentSizeBytes: 64 * MiB, extentCount: 16 } });
    expect(state.extentMap('v', 0, 2)).toMatchObject({ ok: true, value: { extents: [{ index: 1, epoch: 1 }] } });
    expect(state.extentMap('v', 16, 1)).toMatchObject({ ok: true, value: { extents: [] } });
    expect(state.extentMap('v', 0, 0)).toMatchObject({ ok: false, error: { code: ErrorCode.InvalidArgument } });
    expect(state.extentMap('v', -1, 1)).toMatchObject({ ok: false, error: { code: ErrorCode.InvalidArgument } });
    expect(state.extentMap('w', 0, 1)).toMatchObject({ ok: false, error: { code: ErrorCode.VolumeNotFound } });
  });

  it('degradedExtents counts extents with fewer up replicas than the factor', () => {
    const state = threeZoneState();
    must(state, create);
    for (const i of [0, 1, 2]) must(state, allocate(i));
    expect(state.degradedExtents()).toEqual({ total: 0, extents: [] });
    must(state, { type: 'markServerDown', serverId: 's2', nowMs: 9 });
    expect(state.degradedExtents(2)).toMatchObject({ total: 3, extents: [{ index: 0, upReplicas: 2 }, { index: 1, upReplicas: 2 }] });
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: 's2', expectedEpoch: 1 });
    const report = state.degradedExtents();
    expect(report.total).toBe(3);
    expect(report.extents[0]).toEqual({ volume: 'v', volumeId: 1, index: 0, epoch: 2, replicationFactor: 3, replicas: expect.any(Array), upReplicas: 2 });
    expect(report.extents[0]!.replicas).toHaveLength(2);
  });

  it('serverExtentCount and extentsOnServer follow placement and drops', () => {
    const state = threeZoneState();
    must(state, create);
    for (const i of [0, 7]) must(state, allocate(i));
    expect(state.serverExtentCount('s1')).toEqual({ ok: true, value: 2 });
    expect(state.extentsOnServer('s1')).toEqual({ ok: true, value: [{ volume: 'v', volumeId: 1, index: 0, epoch: 1 }, { volume: 'v', volumeId: 1, index: 7, epoch: 1 }] });
    expect(state.extentsOnServer('s1', 1)).toMatchObject({ ok: true, value: [{ index: 0 }] });
    must(state, { type: 'dropReplica', name: 'v', index: 7, serverId: 's1', expectedEpoch: 1 });
    expect(state.serverExtentCount('s1')).toEqual({ ok: true, value: 1 });
    expect(state.serverExtentCount('nope')).toMatchObject({ ok: false, error: { code: ErrorCode.ServerNotFound } });
    expect(state.extentsOnServer('nope')).toMatchObject({ ok: false, error: { code: ErrorCode.ServerNotFound } });
  });
});
