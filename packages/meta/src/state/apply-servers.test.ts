import { ErrorCode, GiB, limits } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import type { RegisterServerCommand } from './commands.js';
import { MetaState } from './meta-state.js';
import { must, refuse, registerServers, threeZoneState } from './test-fixtures.js';

const register: RegisterServerCommand = {
  type: 'registerServer',
  serverId: 'chunk-1',
  address: 'host-a.example:7001',
  zone: 'rack-1',
  capacityBytes: 10 * GiB,
  freeBytes: 8 * GiB,
  nowMs: 5000,
};

describe('chunk server registration', () => {
  it('a registered server is up, empty, and listed with what it reported', () => {
    const state = MetaState.empty();
    const view = must(state, register);
    expect(view).toEqual({
      id: 'chunk-1',
      address: 'host-a.example:7001',
      zone: 'rack-1',
      capacityBytes: 10 * GiB,
      freeBytes: 8 * GiB,
      state: 'up',
      stateSinceMs: 5000,
      draining: false,
      lastHeartbeatMs: 5000,
      extentCount: 0,
    });
    expect(state.listServers()).toEqual([view]);
  });

  it('re-registering updates the address, zone and sizes, and brings a down server up', () => {
    const state = MetaState.empty();
    must(state, register);
    must(state, { type: 'markServerDown', serverId: 'chunk-1', nowMs: 6000 });
    const view = must(state, { ...register, address: '[::1]:7100', zone: 'rack-2', capacityBytes: 20 * GiB, freeBytes: 20 * GiB, nowMs: 7000 });
    expect(view).toMatchObject({ address: '[::1]:7100', zone: 'rack-2', capacityBytes: 20 * GiB, state: 'up', stateSinceMs: 7000, lastHeartbeatMs: 7000 });
    expect(state.listServers()).toHaveLength(1);
  });

  it.each([
    ['an empty id', { serverId: '' }],
    ['an id with a space', { serverId: 'chunk 1' }],
    ['an id over the length limit', { serverId: 'x'.repeat(limits.serverIdBytesMax + 1) }],
    ['an address without a port', { address: 'host-a' }],
    ['port 0', { address: 'host-a:0' }],
    ['port 65536', { address: 'host-a:65536' }],
    ['an address with a path', { address: 'host-a:80/x' }],
    ['an empty zone', { zone: '' }],
    ['zero capacity', { capacityBytes: 0, freeBytes: 0 }],
    ['a fractional capacity', { capacityBytes: 1.5 }],
    ['more free than capacity', { freeBytes: 11 * GiB }],
    ['a negative time', { nowMs: -1 }],
  ])('refuses %s and changes nothing', (_, change) => {
    const state = threeZoneState();
    refuse(state, { ...register, ...change }, ErrorCode.InvalidArgument);
  });

  it('refuses a server beyond the cluster limit, but still re-registers known ones', () => {
    const state = MetaState.empty();
    registerServers(state, Array.from({ length: limits.chunkServersMax }, (_, i) => ({ id: `s${i}`, zone: `z${i % 3}` })));
    refuse(state, register, ErrorCode.LimitExceeded);
    must(state, { ...register, serverId: 's0' });
  });
});

describe('heartbeats and server state', () => {
  it('a heartbeat records free space and time, and leaves a down server down', () => {
    const state = threeZoneState();
    must(state, { type: 'markServerDown', serverId: 's1', nowMs: 2000 });
    const view = must(state, { type: 'heartbeat', serverId: 's1', freeBytes: 1 * GiB, nowMs: 3000 });
    expect(view).toMatchObject({ freeBytes: 1 * GiB, lastHeartbeatMs: 3000, state: 'down', stateSinceMs: 2000 });
  });

  it('a heartbeat from an unknown server or with more free than capacity is refused', () => {
    const state = threeZoneState();
    refuse(state, { type: 'heartbeat', serverId: 'nope', freeBytes: 0, nowMs: 1 }, ErrorCode.ServerNotFound);
    refuse(state, { type: 'heartbeat', serverId: 's1', freeBytes: 101 * GiB, nowMs: 1 }, ErrorCode.InvalidArgument);
  });

  it('mark down and up record the time of the change only when the state changes', () => {
    const state = threeZoneState();
    expect(must(state, { type: 'markServerDown', serverId: 's2', nowMs: 2000 })).toMatchObject({ state: 'down', stateSinceMs: 2000 });
    expect(must(state, { type: 'markServerDown', serverId: 's2', nowMs: 2500 })).toMatchObject({ state: 'down', stateSinceMs: 2000 });
    expect(must(state, { type: 'markServerUp', serverId: 's2', nowMs: 3000 })).toMatchObject({ state: 'up', stateSinceMs: 3000 });
    refuse(state, { type: 'markServerUp', serverId: 'nope', nowMs: 3000 }, ErrorCode.ServerNotFound);
  });

  it('draining is a flag set and cleared by command', () => {
    const state = threeZoneState();
    expect(must(state, { type: 'setServerDraining', serverId: 's3', draining: true }).draining).toBe(true);
    expect(must(state, { type: 'setServerDraining', serverId: 's3', draining: false }).draining).toBe(false);
    refuse(state, { type: 'setServerDraining', serverId: 'nope', draining: true }, ErrorCode.ServerNotFound);
  });
});

describe('removing a server', () => {
  it('is refused while it holds replicas and allowed once they are dropped', () => {
    const state = threeZoneState();
    must(state, { type: 'createVolume', name: 'v', sizeBytes: 64 * 2 ** 20, extentSizeBytes: 64 * 2 ** 20, replicationFactor: 3, nowMs: 1 });
    must(state, { type: 'allocateExtent', name: 'v', index: 0 });
    const details = refuse(state, { type: 'removeServer', serverId: 's1' }, ErrorCode.ServerBusy);
    expect(details).toMatchObject({ serverId: 's1', extentCount: 1 });
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: 's1', expectedEpoch: 1 });
    expect(must(state, { type: 'removeServer', serverId: 's1' }).id).toBe('s1');
    expect(state.listServers().map((s) => s.id)).toEqual(['s2', 's3']);
    refuse(state, { type: 'removeServer', serverId: 's1' }, ErrorCode.ServerNotFound);
  });
});
