import { GiB, MiB, Prng } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand } from './command-codec.js';
import type { Command } from './commands.js';
import { MetaState } from './meta-state.js';

/**
 * Random command sequences drawn from a seed, with the invariants checked after every step:
 * a refused command changes nothing; replica sets are distinct registered servers with the
 * primary in the set; epochs and generations only grow; replaying the log, or restoring a
 * snapshot and going on, gives the same state. A failure names its seed; rerun one with
 * SEED=<n> pnpm exec vitest run packages/meta/src/state/random-commands.
 */
const servers = ['s1', 's2', 's3', 's4', 's5', 's6'];
const volumes = ['va', 'vb', 'vc', 'vd'];
const clients = ['c1', 'c2', 'c3'];

/** Few distinct free sizes, so placement meets ties often and must break them by id. */
function randomCommand(rng: Prng, state: MetaState, nowMs: number): Command {
  const name = rng.pick(volumes);
  const serverId = rng.pick(servers);
  switch (rng.int(0, 19)) {
    case 0:
    case 1:
      return { type: 'registerServer', serverId, address: `127.0.0.1:${7000 + servers.indexOf(serverId)}`, zone: `z${rng.int(1, 3)}`, capacityBytes: 64 * GiB, freeBytes: rng.pick([16, 64]) * GiB, nowMs };
    case 2:
      return { type: 'heartbeat', serverId, freeBytes: rng.pick([16, 64, 65]) * GiB, nowMs };
    case 3:
      return { type: rng.chance(0.5) ? 'markServerDown' : 'markServerUp', serverId, nowMs };
    case 4:
      return rng.chance(0.7) ? { type: 'setServerDraining', serverId, draining: rng.chance(0.3) } : { type: 'removeServer', serverId, ...(rng.chance(0.5) ? { dropFromSets: true } : {}) };
    case 5:
    case 6:
      return { type: 'createVolume', name, sizeBytes: rng.int(0, 24) * MiB, extentSizeBytes: rng.pick([1, 2, 3]) * MiB, replicationFactor: rng.chance(0.2) ? rng.pick([0, 1, 4, 6]) : rng.int(2, 3), nowMs };
    case 7:
      if (rng.chance(0.8)) {
        // Odd sizes are forced (no extra draw, so the seeds' sequences stay as they were).
        const sizeBytes = rng.int(1, 40) * MiB;
        return { type: 'resizeVolume', name, sizeBytes, ...(sizeBytes % (2 * MiB) !== 0 ? { force: true } : {}) };
      }
      return { type: 'deleteVolume', name, force: rng.chance(0.5) };
    case 8:
      return { type: 'setLabel', name, key: rng.pick(['r1', 'r2']), value: rng.chance(0.2) ? null : String(rng.int(0, 3)), ...(rng.chance(0.5) ? { expect: rng.chance(0.3) ? null : String(rng.int(0, 3)) } : {}) };
    case 9:
    case 10:
      return { type: 'allocateExtent', name, index: rng.int(0, 25), ...(rng.chance(0.4) ? { minReplicas: rng.pick([0, 1, 2, 3, 9]) } : {}) };
    case 11:
    case 16:
      return randomDrop(rng, state, name);
    case 13:
      return { type: 'markServerOut', serverId, nowMs };
    case 14:
    case 15:
    case 17:
    case 18:
      return randomMemberChange(rng, state, name, serverId);
    case 12:
      return { type: 'acquireLease', name, clientId: rng.pick(clients), force: rng.chance(0.3), nowMs };
    default:
      return { type: 'releaseLease', name, clientId: rng.pick(clients), generation: rng.int(0, 4) };
  }
}

/** An addRebuilding or a promotion, mostly at the current epoch. */
function randomMemberChange(rng: Prng, state: MetaState, name: string, serverId: string): Command {
  const map = state.extentMap(name, 0, 64);
  const extents = map.ok ? map.value.extents : [];
  if (extents.length === 0) return { type: 'addRebuilding', name, index: rng.int(0, 25), serverId, expectedEpoch: rng.int(0, 3) };
  const extent = rng.pick(extents);
  const expectedEpoch = rng.chance(0.9) ? extent.epoch : extent.epoch + 1;
  const rebuilding = extent.replicas.filter((r) => r.rebuilding);
  if (rebuilding.length > 0 && rng.chance(0.5)) return { type: 'promoteReplica', name, index: extent.index, serverId: rng.pick(rebuilding).serverId, expectedEpoch };
  const members = new Set(extent.replicas.map((r) => r.serverId));
  const eligible = state.listServers().filter((s) => s.state === 'up' && !s.draining && !members.has(s.id));
  const target = eligible.length > 0 && rng.chance(0.8) ? rng.pick(eligible).id : serverId;
  return { type: 'addRebuilding', name, index: extent.index, serverId: target, expectedEpoch };
}

/** Mostly a drop that names a real replica at the current epoch, sometimes a stale or wrong one. */
function randomDrop(rng: Prng, state: MetaState, name: string): Command {
  const map = state.extentMap(name, 0, 64);
  const extents = map.ok ? map.value.extents : [];
  if (extents.length === 0 || rng.chance(0.1)) return { type: 'dropReplica', name, index: rng.int(0, 25), serverId: rng.pick(servers), expectedEpoch: rng.int(0, 3) };
  const extent = rng.pick(extents);
  const epoch = rng.chance(0.8) ? extent.epoch : extent.epoch + rng.int(-1, 1);
  return { type: 'dropReplica', name, index: extent.index, serverId: rng.pick(extent.replicas).serverId, expectedEpoch: Math.max(0, epoch), ...(rng.chance(0.5) ? { reason: 'io' } : {}) };
}

/** Watches epochs and generations across steps; both may only grow. */
class Monotonic {
  private readonly epochs = new Map<string, number>();
  private readonly generations = new Map<number, number>();

  check(state: MetaState): void {
    for (const volume of state.listVolumes()) {
      expect(volume.generation).toBeGreaterThanOrEqual(this.generations.get(volume.id) ?? 0);
      this.generations.set(volume.id, volume.generation);
      const map = state.extentMap(volume.name, 0, 64);
      if (!map.ok) throw new Error(map.error.message);
      for (const extent of map.value.extents) {
        const ids = extent.replicas.map((r) => r.serverId);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids[0]).toBe(extent.primary);
        expect(ids.length).toBeLessThanOrEqual(2 * volume.replicationFactor);
        expect(extent.replicas[0]!.rebuilding).toBe(false);
        const key = `${volume.id}:${extent.index}`;
        expect(extent.epoch).toBeGreaterThanOrEqual(this.epochs.get(key) ?? 1);
        this.epochs.set(key, extent.epoch);
      }
    }
  }
}

function runSeed(seed: number, steps: number): { log: Command[]; hash: string; applied: Map<string, number> } {
  const rng = new Prng(seed);
  const state = MetaState.empty();
  const monotonic = new Monotonic();
  const log: Command[] = [];
  const applied = new Map<string, number>();
  for (let step = 0; step < steps; step++) {
    const cmd = decodeCommand(encodeCommand(randomCommand(rng, state, 1000 + step)));
    const before = state.hash();
    const result = state.apply(cmd);
    if (result.ok) applied.set(cmd.type, (applied.get(cmd.type) ?? 0) + 1);
    else expect(state.hash(), `refused ${cmd.type} changed the state`).toBe(before);
    state.checkInvariants();
    monotonic.check(state);
    log.push(cmd);
  }
  return { log, hash: state.hash(), applied };
}

const defaultSeeds = Array.from({ length: 12 }, (_, i) => 1000 + i);
const seeds = process.env.SEED === undefined ? defaultSeeds : [Number(process.env.SEED)];

describe('random command sequences', () => {
  it.each(seeds)('SEED=%i keeps the invariants, and replays and snapshots agree', (seed) => {
    const steps = 400;
    const { log, hash, applied } = runSeed(seed, steps);
    // The generator must reach the interesting paths, not only refusals.
    for (const type of ['registerServer', 'createVolume', 'allocateExtent', 'dropReplica', 'acquireLease', 'setLabel']) {
      expect(applied.get(type) ?? 0, `${type} applied`).toBeGreaterThan(0);
    }

    const replayed = MetaState.empty();
    for (const cmd of log) replayed.apply(cmd);
    expect(replayed.hash()).toBe(hash);

    const half = steps / 2;
    const original = MetaState.empty();
    for (const cmd of log.slice(0, half)) original.apply(cmd);
    const restored = MetaState.decodeSnapshot(original.encodeSnapshot());
    expect(restored.hash()).toBe(original.hash());
    for (const cmd of log.slice(half)) expect(restored.apply(cmd)).toEqual(original.apply(cmd));
    expect(restored.hash()).toBe(hash);
  });

  it('across the seeds, the generator reaches the healing commands', () => {
    const total = new Map<string, number>();
    for (const seed of defaultSeeds) for (const [type, n] of runSeed(seed, 200).applied) total.set(type, (total.get(type) ?? 0) + n);
    for (const type of ['markServerOut', 'addRebuilding', 'promoteReplica', 'removeServer']) expect(total.get(type) ?? 0, `${type} applied`).toBeGreaterThan(0);
  });
});
