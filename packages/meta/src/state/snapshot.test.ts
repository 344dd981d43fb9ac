import { AssertionError, GiB, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import type { Command } from './commands.js';
import { digest64 } from './hash.js';
import { MetaState } from './meta-state.js';
import { concatPieces } from './snapshot.js';
import { must, registerServers } from './test-fixtures.js';

/**
 * A cluster with every kind of record: servers up, down, out and draining, volumes with labels,
 * leases and extents with rebuilding and former members, plaintext and encrypted volumes of the
 * default tenant and of another (each length of a volume's tuple).
 */
function populated(): MetaState {
  const state = MetaState.empty();
  registerServers(state, ['a', 'b', 'c', 'd', 'e'].map((id, i) => ({ id, zone: `z${i % 3}`, freeBytes: (i + 1) * 10 * GiB })));
  const log: Command[] = [
    { type: 'createVolume', name: 'db', sizeBytes: 1 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 10 },
    { type: 'createVolume', name: 'logs', sizeBytes: 16 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 2, nowMs: 11 },
    { type: 'createVolume', name: 'secret', sizeBytes: 16 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 2, nowMs: 11, cipher: 'aes-256-xts', keyId: 'file:0123456789abcdef', wrappedKey: 'AAECAwQFBgc=', expectedId: 3 },
    { type: 'createTenant', name: 'team-a', maxBytes: 4 * GiB, maxVolumes: 3, nowMs: 11 },
    { type: 'createVolume', name: 'a-plain', sizeBytes: 16 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 2, nowMs: 11, tenant: 'team-a' },
    { type: 'createVolume', name: 'a-secret', sizeBytes: 16 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 2, nowMs: 11, tenant: 'team-a', cipher: 'aes-256-xts', keyId: 'file:0123456789abcdef', wrappedKey: 'CAkKCw==', expectedId: 5 },
    { type: 'allocateExtent', name: 'db', index: 0 },
    { type: 'allocateExtent', name: 'db', index: 9 },
    { type: 'allocateExtent', name: 'logs', index: 3 },
    { type: 'setLabel', name: 'db', key: 'z', value: 'last' },
    { type: 'setLabel', name: 'db', key: 'a', value: 'first' },
    { type: 'acquireLease', name: 'db', clientId: 'writer-1', force: false, nowMs: 12 },
    { type: 'markServerDown', serverId: 'e', nowMs: 13 },
    { type: 'setServerDraining', serverId: 'd', draining: true },
  ];
  for (const cmd of log) must(state, cmd);
  const extent = must(state, { type: 'allocateExtent', name: 'db', index: 0 });
  must(state, { type: 'dropReplica', name: 'db', index: 0, serverId: extent.replicas[1]!.serverId, expectedEpoch: 1 });
  const nine = must(state, { type: 'allocateExtent', name: 'db', index: 9 });
  const spare = ['a', 'b', 'c'].find((id) => !nine.replicas.some((r) => r.serverId === id))!;
  must(state, { type: 'addRebuilding', name: 'db', index: 9, serverId: spare, expectedEpoch: 1 });
  const logs = must(state, { type: 'allocateExtent', name: 'logs', index: 3 });
  must(state, { type: 'markServerOut', serverId: logs.replicas[1]!.serverId, nowMs: 14 });
  return state;
}

describe('snapshots', () => {
  it('a decoded snapshot equals the original: same hash, same answers', () => {
    const state = populated();
    const copy = MetaState.decodeSnapshot(state.encodeSnapshot());
    expect(copy.hash()).toBe(state.hash());
    expect(copy.listServers()).toEqual(state.listServers());
    expect(copy.listVolumes()).toEqual(state.listVolumes());
    expect(copy.extentMap('db', 0, 16)).toEqual(state.extentMap('db', 0, 16));
    expect(copy.degradedExtents()).toEqual(state.degradedExtents());
    expect(copy.encodeSnapshot()).toEqual(state.encodeSnapshot());
  });

  it('a decoded state goes on like the original: the next volume id and allocations agree', () => {
    const state = populated();
    const copy = MetaState.decodeSnapshot(state.encodeSnapshot());
    const next: Command[] = [
      { type: 'createVolume', name: 'new', sizeBytes: 64 * MiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 20 },
      { type: 'allocateExtent', name: 'new', index: 0 },
      { type: 'acquireLease', name: 'db', clientId: 'writer-2', force: true, nowMs: 21 },
    ];
    for (const cmd of next) expect(copy.apply(cmd)).toEqual(state.apply(cmd));
    expect(copy.hash()).toBe(state.hash());
  });

  it('the same commands give the same hash; a different history gives a different one', () => {
    expect(populated().hash()).toBe(populated().hash());
    expect(populated().hash()).toMatch(/^[0-9a-f]{16}$/);
    const other = populated();
    must(other, { type: 'heartbeat', serverId: 'a', freeBytes: 1, nowMs: 99 });
    expect(other.hash()).not.toBe(populated().hash());
  });

  it('reads format 1 (before rebuilding and former members): the same sets, nothing rebuilding', () => {
    const v1 = {
      v: 1,
      nextVolumeId: 2,
      servers: [['a', '127.0.0.1:7001', 'z1', 100, 90, 'up', 1, false, 1], ['b', '127.0.0.1:7002', 'z2', 100, 90, 'down', 2, false, 1]],
      volumes: [[1, 'v', 2 * MiB, 1 * MiB, 2, 0, null, 1, [], [0, 3, 2, 1, 0, 1, 1, 1, 0]]],
    };
    const state = MetaState.decodeSnapshot(new TextEncoder().encode(JSON.stringify(v1)));
    const map = state.extentMap('v', 0, 2);
    expect(map.ok && map.value.extents.map((e) => [e.epoch, e.replicas.map((r) => `${r.serverId}${r.rebuilding ? '*' : ''}`)])).toEqual([[3, ['b', 'a']], [1, ['a']]]);
    expect(state.getServer('a')).toMatchObject({ ok: true, value: { extentCount: 2 } });
    expect(JSON.parse(new TextDecoder().decode(state.encodeSnapshot())).v).toBe(2);
  });

  it('encodes in slices: the pieces of any slice size are the bytes of encodeSnapshot, bounded, and hash() digests them', () => {
    const state = populated();
    for (let v = 0; v < 3000; v++) must(state, { type: 'createVolume', name: `pvc-${v}`, sizeBytes: 1 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 2, nowMs: 20 });
    const whole = state.encodeSnapshot();
    const volumes = state.listVolumes().length;
    for (const perSlice of [1, 7, 1000, 5000]) {
      const slices = [...state.encodeSnapshotPieces(perSlice)];
      expect(slices).toHaveLength(Math.floor(volumes / perSlice) + 1);
      const pieces = slices.flat();
      expect(concatPieces(pieces)).toEqual(whole);
      expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(128 * 1024);
    }
    expect(whole.length).toBeGreaterThan(2 * 64 * 1024);
    expect(state.hash()).toBe(digest64([whole]));
    expect(digest64([whole.subarray(0, 5), whole.subarray(5)])).toBe(digest64([whole]));
  });

  it('label insertion order does not change the encoding', () => {
    const one = MetaState.empty();
    const two = MetaState.empty();
    for (const s of [one, two]) must(s, { type: 'createVolume', name: 'v', sizeBytes: 1 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 1, nowMs: 1 });
    must(one, { type: 'setLabel', name: 'v', key: 'x', value: '1' });
    must(one, { type: 'setLabel', name: 'v', key: 'y', value: '2' });
    must(two, { type: 'setLabel', name: 'v', key: 'y', value: '2' });
    must(two, { type: 'setLabel', name: 'v', key: 'x', value: '1' });
    expect(one.hash()).toBe(two.hash());
  });

  it('a corrupt snapshot is an assertion failure, not a half-loaded state', () => {
    const text = new TextDecoder().decode(populated().encodeSnapshot());
    const edited = (edit: (root: { v: number; servers: unknown[][]; volumes: unknown[][] }) => void): string => {
      const root = JSON.parse(text) as { v: number; servers: unknown[][]; volumes: unknown[][] };
      edit(root);
      return JSON.stringify(root);
    };
    const extentsOfDb = (root: { volumes: unknown[][] }) => root.volumes[0]![9] as number[];
    const bad = [
      text.slice(0, text.length - 3),
      edited((r) => (r.v = 9)),
      edited((r) => (r.servers[0]![5] = 'sideways')),
      edited((r) => (r.servers[0]![3] = 'big')),
      edited((r) => (extentsOfDb(r)[3] = 99)), // a replica slot past the server list
      edited((r) => (extentsOfDb(r)[4] = extentsOfDb(r)[3]!)), // a server twice in one set
      edited((r) => (extentsOfDb(r)[1] = 0)), // epoch 0
      edited((r) => (r.volumes[0]![2] = 3)), // size not whole extents
    ];
    expect(MetaState.decodeSnapshot(new TextEncoder().encode(edited(() => undefined))).hash()).toBe(populated().hash());
    for (const corrupt of bad) expect(() => MetaState.decodeSnapshot(new TextEncoder().encode(corrupt)), corrupt.slice(0, 80)).toThrow(AssertionError);
  });

  it('1000 volumes with 16 extents each stay small: snapshot bytes and heap', () => {
    const state = MetaState.empty();
    registerServers(state, Array.from({ length: 30 }, (_, i) => ({ id: `chunk-${i}`, zone: `zone-${i % 3}`, capacityBytes: 10_000 * GiB })));
    const heapBefore = process.memoryUsage().heapUsed;
    for (let v = 0; v < 1000; v++) {
      const name = `volume-${v}`;
      must(state, { type: 'createVolume', name, sizeBytes: 16 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: v });
      must(state, { type: 'setLabel', name, key: 'owner', value: `équipe-${v % 7}-\u{1F600}` });
      for (let i = 0; i < 16; i++) must(state, { type: 'allocateExtent', name, index: i * 16 });
    }
    const heapAfter = process.memoryUsage().heapUsed;
    const snapshot = state.encodeSnapshot();
    const extents = 16_000;
    console.log(`1000 volumes, ${extents} extents: snapshot ${snapshot.length} bytes (${(snapshot.length / extents).toFixed(1)} per extent), heap +${((heapAfter - heapBefore) / MiB).toFixed(1)} MiB`);
    // About 24 bytes per extent in the snapshot (index, epoch, three counts, three slots); volume records add ~100 bytes each.
    expect(snapshot.length).toBeLessThan(extents * 30 + 1000 * 150);
    const text = new TextDecoder().decode(snapshot);
    expect(text.length).toBeGreaterThan(4 * 64 * 1024); // written in several pieces
    expect(JSON.stringify(JSON.parse(text))).toBe(text); // exactly what one JSON.stringify of the whole would give
    expect(MetaState.decodeSnapshot(snapshot).hash()).toBe(state.hash());
  });
});
