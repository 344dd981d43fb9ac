import { ErrorCode, GiB, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import type { CreateVolumeCommand } from './commands.js';
import { MetaState } from './meta-state.js';
import { must, refuse, registerServers } from './test-fixtures.js';
import type { ExtentView } from './views.js';

const create: CreateVolumeCommand = { type: 'createVolume', name: 'v', sizeBytes: 1 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 1 };

/** Five servers in five zones; extent 0 of v placed on three of them. */
function fiveServers(): { state: MetaState; extent: ExtentView } {
  const state = MetaState.empty();
  registerServers(state, ['a', 'b', 'c', 'd', 'e'].map((id, i) => ({ id, zone: `z${i}`, freeBytes: (10 - i) * GiB })));
  must(state, create);
  const extent = must(state, { type: 'allocateExtent', name: 'v', index: 0 });
  return { state, extent };
}

function members(extent: ExtentView): string[] {
  return extent.replicas.map((r) => `${r.serverId}${r.rebuilding ? '*' : ''}`);
}

const add = (serverId: string, expectedEpoch: number) => ({ type: 'addRebuilding', name: 'v', index: 0, serverId, expectedEpoch }) as const;
const promote = (serverId: string, expectedEpoch: number) => ({ type: 'promoteReplica', name: 'v', index: 0, serverId, expectedEpoch }) as const;
const drop = (serverId: string, expectedEpoch: number, reason = 'io') => ({ type: 'dropReplica', name: 'v', index: 0, serverId, expectedEpoch, reason }) as const;

describe('rebuilding members', () => {
  it('are added after the active members, flagged, and bump the epoch by one', () => {
    const { state, extent } = fiveServers();
    expect([...members(extent)].sort()).toEqual(['a', 'b', 'c']);
    const after = must(state, add('d', 1));
    expect(after.epoch).toBe(2);
    expect(members(after)).toEqual([...members(extent), 'd*']);
    expect(after.primary).toBe(extent.primary);
    expect(state.getServer('d')).toMatchObject({ ok: true, value: { extentCount: 1, freeBytes: 7 * GiB - 64 * MiB } });
    state.checkInvariants();
  });

  it('are promoted to the last active member at the expected epoch only', () => {
    const { state } = fiveServers();
    must(state, add('d', 1));
    refuse(state, promote('d', 1), ErrorCode.StaleEpoch);
    refuse(state, promote('e', 2), ErrorCode.ReplicaNotFound);
    const promoted = must(state, promote('d', 2));
    expect(promoted.epoch).toBe(3);
    expect(promoted.replicas.map((r) => r.rebuilding)).toEqual([false, false, false, false]);
    expect(promoted.replicas[3]!.serverId).toBe('d');
    state.checkInvariants();
  });

  it('are not promoted on a server that is not up', () => {
    const { state } = fiveServers();
    must(state, add('d', 1));
    must(state, { type: 'markServerDown', serverId: 'd', nowMs: 5 });
    refuse(state, promote('d', 2), ErrorCode.Unavailable);
  });

  it('go only to up, not draining servers outside the set, and never past twice the factor', () => {
    const { state, extent } = fiveServers();
    refuse(state, add(extent.primary, 1), ErrorCode.InvalidArgument);
    refuse(state, add('nobody', 1), ErrorCode.ServerNotFound);
    must(state, { type: 'markServerDown', serverId: 'd', nowMs: 5 });
    refuse(state, add('d', 1), ErrorCode.Unavailable);
    must(state, { type: 'setServerDraining', serverId: 'e', draining: true });
    refuse(state, add('e', 1), ErrorCode.Unavailable);

    const one = MetaState.empty();
    registerServers(one, [{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }, { id: 'c', zone: 'z3' }]);
    must(one, { ...create, replicationFactor: 1 });
    must(one, { type: 'allocateExtent', name: 'v', index: 0 });
    const [second, third] = ['a', 'b', 'c'].filter((id) => id !== must(one, { type: 'allocateExtent', name: 'v', index: 0 }).primary);
    must(one, add(second!, 1));
    refuse(one, add(third!, 2), ErrorCode.LimitExceeded);
  });

  it('can always be dropped, and do not join former (their copy never completed)', () => {
    const { state } = fiveServers();
    must(state, add('d', 1));
    const dropped = must(state, drop('d', 2, 'copy_failed'));
    expect(dropped.epoch).toBe(3);
    expect(dropped.replicas.map((r) => r.serverId)).not.toContain('d');
    expect(state.getServer('d')).toMatchObject({ ok: true, value: { extentCount: 0 } });
    // Nothing to catch up from: a planner would not wait for d (see repair-planner.test.ts).
    state.checkInvariants();
  });
});

describe('dropping active members', () => {
  it('keeps the dropped server as a former member, which leaves when its catch-up is promoted', () => {
    const { state, extent } = fiveServers();
    const victim = extent.replicas[1]!.serverId;
    must(state, drop(victim, 1));
    state.checkInvariants();
    const back = must(state, add(victim, 2));
    expect(members(back)).toContain(`${victim}*`);
    state.checkInvariants();
    must(state, promote(victim, 3));
    must(state, drop(victim, 4, 'io'));
    state.checkInvariants();
  });

  it('refuses the last active member even with rebuilding members, and an unknown reason', () => {
    const state = MetaState.empty();
    registerServers(state, [{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }]);
    must(state, { ...create, replicationFactor: 1 });
    must(state, { type: 'allocateExtent', name: 'v', index: 0 });
    const primary = must(state, { type: 'allocateExtent', name: 'v', index: 0 }).primary;
    const other = primary === 'a' ? 'b' : 'a';
    must(state, add(other, 1));
    refuse(state, drop(primary, 2), ErrorCode.LastReplica);
    refuse(state, { ...drop(other, 2), reason: 'bored' }, ErrorCode.InvalidArgument);
  });

  it('a rebuilding member never becomes primary: the first active member that is up leads', () => {
    const { state, extent } = fiveServers();
    const [p, s1, s2] = extent.replicas.map((r) => r.serverId);
    must(state, add('d', 1));
    must(state, { type: 'markServerDown', serverId: s1!, nowMs: 5 });
    const after = must(state, drop(p!, 2));
    expect(after.primary).toBe(s2);
    expect(members(after)).toEqual([s2, s1, 'd*']);
  });
});

describe('server out and removal', () => {
  it('an out server leaves every former list and stays out at heartbeats until it registers again', () => {
    const { state, extent } = fiveServers();
    const victim = extent.replicas[2]!.serverId;
    must(state, drop(victim, 1));
    must(state, { type: 'markServerOut', serverId: victim, nowMs: 10 });
    state.checkInvariants();
    expect(must(state, { type: 'markServerUp', serverId: victim, nowMs: 11 }).state).toBe('out');
    expect(state.clusterCounts()).toMatchObject({ serversOut: 1, serversDown: 0 });
    must(state, { type: 'registerServer', serverId: victim, address: '127.0.0.1:7100', zone: 'z9', capacityBytes: 100 * GiB, freeBytes: 100 * GiB, nowMs: 12 });
    expect(state.getServer(victim)).toMatchObject({ ok: true, value: { state: 'up', stateSinceMs: 12 } });
  });

  it('removal with dropFromSets drops the server everywhere, refused while it holds an only active copy', () => {
    const { state, extent } = fiveServers();
    const victim = extent.primary;
    const before = state.hash();
    refuse(state, { type: 'removeServer', serverId: victim }, ErrorCode.ServerBusy);
    expect(state.hash()).toBe(before);
    const removed = must(state, { type: 'removeServer', serverId: victim, dropFromSets: true });
    expect(removed.id).toBe(victim);
    const map = state.extentMap('v', 0, 1);
    expect(map.ok && map.value.extents[0]!.epoch).toBe(2);
    expect(map.ok && map.value.extents[0]!.replicas.map((r) => r.serverId)).not.toContain(victim);
    state.checkInvariants();

    const single = MetaState.empty();
    registerServers(single, [{ id: 'a', zone: 'z1' }]);
    must(single, { ...create, replicationFactor: 1 });
    must(single, { type: 'allocateExtent', name: 'v', index: 4 });
    const details = refuse(single, { type: 'removeServer', serverId: 'a', dropFromSets: true }, ErrorCode.ServerBusy);
    expect(details).toMatchObject({ onlyCopies: 1, volume: 'v', index: 4 });
  });
});

describe('failure reports', () => {
  it('drop on a matching epoch, refuse a stale one or the last active member; empty reason means unreachable', () => {
    const { state, extent } = fiveServers();
    const secondary = extent.replicas[1]!.serverId;
    const decided = state.decideDropReport({ volume: 'v', index: 0, serverId: secondary, expectedEpoch: 1, reason: '' });
    expect(decided).toEqual({ ok: true, value: { type: 'dropReplica', name: 'v', index: 0, serverId: secondary, expectedEpoch: 1, reason: 'unreachable' } });
    expect(state.decideDropReport({ volume: 'v', index: 0, serverId: secondary, expectedEpoch: 2, reason: 'io' })).toMatchObject({ ok: false, error: { code: ErrorCode.StaleEpoch } });
    expect(state.decideDropReport({ volume: 'v', index: 0, serverId: 'e', expectedEpoch: 1, reason: 'io' })).toMatchObject({ ok: false, error: { code: ErrorCode.ReplicaNotFound } });
    expect(state.decideDropReport({ volume: 'v', index: 0, serverId: secondary, expectedEpoch: 1, reason: 'bad' })).toMatchObject({ ok: false, error: { code: ErrorCode.InvalidArgument } });
    must(state, drop(extent.replicas[2]!.serverId, 1));
    must(state, drop(secondary, 2));
    expect(state.decideDropReport({ volume: 'v', index: 0, serverId: extent.primary, expectedEpoch: 3, reason: 'timeout' })).toMatchObject({ ok: false, error: { code: ErrorCode.LastReplica } });
  });
});
