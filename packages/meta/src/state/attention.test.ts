import { GiB, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import { applyCommand } from './apply.js';
import type { Command } from './commands.js';
import { checkDerived, checkInvariants } from './invariants.js';
import { degradedExtents, redundancyCounts, repairTasksByPrimary } from './queries.js';
import { emptyStateData, type ExtentRecord, type StateData, type VolumeRecord } from './records.js';
import { planRepairs, type PlannerFacts } from './repair-planner.js';

const facts: PlannerFacts = { nowMs: 1_000_000, silentMs: new Map(), suspect: new Set(), downAfterMs: 5_000, downOutIntervalMs: 600_000, actionsMax: 64, copiesPerServerMax: 2 };

function must(data: StateData, cmd: Command): void {
  const result = applyCommand(data, cmd);
  if (!result.ok) throw new Error(`${cmd.type}: ${result.error.message}`);
}

/** Four servers, `volumes` volumes of 8 allocated extents each (factor 3); one extent of v0 has lost a member. */
function cluster(volumes: number): StateData {
  const data = emptyStateData();
  for (const [i, id] of ['a', 'b', 'c', 'd'].entries()) {
    must(data, { type: 'registerServer', serverId: id, address: `127.0.0.1:${7001 + i}`, zone: `z${i}`, capacityBytes: 1024 * GiB, freeBytes: 1024 * GiB, nowMs: 1 });
  }
  for (let v = 0; v < volumes; v++) {
    must(data, { type: 'createVolume', name: `v${v}`, sizeBytes: 8 * 64 * MiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 1 });
    for (let index = 0; index < 8; index++) must(data, { type: 'allocateExtent', name: `v${v}`, index });
  }
  const v0 = data.volumes.get('v0') as VolumeRecord;
  const extent = v0.extents.get(3) as ExtentRecord;
  must(data, { type: 'dropReplica', name: 'v0', index: 3, serverId: extent.replicas[1] as string, expectedEpoch: extent.epoch });
  return data;
}

function check(data: StateData): void {
  checkInvariants(data);
  checkDerived(data);
}

/** A Map that counts every entry handed out by a lookup or an iteration. */
class CountingMap<K, V> extends Map<K, V> {
  touched = 0;
  override get(key: K): V | undefined {
    this.touched += 1;
    return super.get(key);
  }
  override *entries(): MapIterator<[K, V]> {
    for (const entry of super.entries()) {
      this.touched += 1;
      yield entry;
    }
  }
  override *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }
  override *keys(): MapIterator<K> {
    for (const [key] of this.entries()) yield key;
  }
  override [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }
}

/** Replaces every volume's extent map and the volume map with counting copies; returns the total-touched reader. */
function instrument(data: StateData): () => number {
  const maps: CountingMap<unknown, unknown>[] = [];
  const volumes = new CountingMap<string, VolumeRecord>();
  for (const [name, volume] of data.volumes) {
    const extents = new CountingMap<number, ExtentRecord>(volume.extents);
    maps.push(extents);
    volumes.set(name, { ...volume, extents });
  }
  maps.push(volumes);
  (data as { volumes: Map<string, VolumeRecord> }).volumes = volumes;
  for (const map of maps) map.touched = 0;
  return () => maps.reduce((sum, map) => sum + map.touched, 0);
}

/** Entries touched by one planner round, the redundancy counts, the degraded listing and the repair tasks. */
function work(volumes: number): number {
  const data = cluster(volumes);
  check(data);
  const touched = instrument(data);
  expect(planRepairs(data, facts)).toHaveLength(1);
  expect(redundancyCounts(data)).toMatchObject({ allocatedExtents: volumes * 8, degradedExtents: 1, rebuildingReplicas: 0 });
  expect(degradedExtents(data, 10).total).toBe(1);
  expect(repairTasksByPrimary(data, 10).size).toBe(0);
  return touched();
}

describe('attention index', () => {
  it('a planner round and the repair counts touch only the extents that are not healthy, however many healthy ones there are', () => {
    const small = work(2);
    const large = work(200);
    expect(large).toBe(small);
    expect(large).toBeLessThan(16);
  });

  it('follows server state changes: a down server flags its extents, coming back up clears them', () => {
    const data = cluster(3);
    must(data, { type: 'markServerDown', serverId: 'a', nowMs: 2 });
    check(data);
    const onA = [...data.volumes.values()].reduce((n, v) => n + [...v.extents.values()].filter((e) => e.replicas.includes('a')).length, 0);
    expect(onA).toBeGreaterThan(0);
    expect(redundancyCounts(data).degradedExtents).toBe(onA + (data.volumes.get('v0')?.extents.get(3)?.replicas.includes('a') === true ? 0 : 1));
    must(data, { type: 'markServerUp', serverId: 'a', nowMs: 3 });
    check(data);
    expect(redundancyCounts(data).degradedExtents).toBe(1);
    must(data, { type: 'deleteVolume', name: 'v0', force: true });
    check(data);
    expect(data.attention.size).toBe(0);
    expect(redundancyCounts(data)).toMatchObject({ allocatedExtents: 16, degradedExtents: 0 });
  });
});
