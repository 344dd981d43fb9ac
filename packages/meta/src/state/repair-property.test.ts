import { AssertionError, GiB, MiB, Prng } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import type { Command } from './commands.js';
import { MetaState } from './meta-state.js';
import type { PlannedCommand, PlannerFacts } from './repair-planner.js';
import { must, registerServers } from './test-fixtures.js';
import type { ExtentView } from './views.js';

/**
 * The planner and apply() together, on random clusters under random events: servers going
 * down, out, coming back, draining and undraining, removals, failure reports, copies that
 * complete (promotions) or fail. After every planner round: the plan keeps its invariants
 * (checkPlan), every planned command applies to the state it was planned on, and the state
 * keeps its invariants. After the events stop (every server that is left up and none
 * draining): every extent returns to its factor of active members within a bounded number of
 * rounds, with nothing rebuilding. A failure names its seed; rerun one with
 * SEED=<n> pnpm exec vitest run packages/meta/src/state/repair-property.
 */
const minute = 60_000;

interface World {
  readonly rng: Prng;
  readonly state: MetaState;
  readonly servers: string[];
  nowMs: number;
}

function newWorld(seed: number): World {
  const rng = new Prng(seed);
  const state = MetaState.empty();
  const count = rng.int(4, 8);
  const servers = Array.from({ length: count }, (_, i) => `s${i}`);
  registerServers(state, servers.map((id) => ({ id, zone: `z${rng.int(1, 3)}`, freeBytes: rng.int(20, 100) * GiB })));
  for (const [name, factor] of [['va', rng.int(1, 3)], ['vb', 3]] as const) {
    must(state, { type: 'createVolume', name, sizeBytes: 16 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: factor, nowMs: 1 });
    for (let i = 0; i < 16; i++) if (rng.chance(0.7)) must(state, { type: 'allocateExtent', name, index: i });
  }
  return { rng, state, servers, nowMs: 10 * minute };
}

function allExtents(state: MetaState): { volume: string; factor: number; extent: ExtentView }[] {
  return state.listVolumes().flatMap((v) => {
    const map = state.extentMap(v.name, 0, 64);
    if (!map.ok) throw new Error(map.error.message);
    return map.value.extents.map((extent) => ({ volume: v.name, factor: v.replicationFactor, extent }));
  });
}

/** One random event, as a chunk server, a client or an operator would cause it. */
function randomEvent(w: World): Command | null {
  const { rng, state } = w;
  const known = state.listServers();
  if (known.length === 0) return null;
  const server = rng.pick(known);
  const extents = allExtents(state);
  switch (rng.int(0, 9)) {
    case 0:
      return { type: 'markServerDown', serverId: server.id, nowMs: w.nowMs };
    case 1:
      return { type: 'markServerOut', serverId: server.id, nowMs: w.nowMs };
    case 2:
      return { type: 'registerServer', serverId: server.id, address: server.address, zone: server.zone, capacityBytes: server.capacityBytes, freeBytes: server.freeBytes, nowMs: w.nowMs };
    case 3:
      return { type: 'setServerDraining', serverId: server.id, draining: rng.chance(0.5) };
    case 4:
      return rng.chance(0.3) ? { type: 'removeServer', serverId: server.id, dropFromSets: true } : null;
    case 5:
    case 6: {
      if (extents.length === 0) return null;
      const { volume, extent } = rng.pick(extents);
      const report = { volume, index: extent.index, serverId: rng.pick(extent.replicas).serverId, expectedEpoch: extent.epoch, reason: rng.pick(['', 'io', 'timeout']) };
      const decided = state.decideDropReport(report);
      return decided.ok ? decided.value : null;
    }
    default:
      return completeCopy(w);
  }
}

/** A primary's copy completes: promote one rebuilding member at the current epoch. */
function completeCopy(w: World): Command | null {
  const rebuilding = allExtents(w.state).flatMap(({ volume, extent }) =>
    extent.replicas.filter((r) => r.rebuilding).map((r) => ({ type: 'promoteReplica', name: volume, index: extent.index, serverId: r.serverId, expectedEpoch: extent.epoch }) as const),
  );
  return rebuilding.length === 0 ? null : w.rng.pick(rebuilding);
}

function facts(w: World, silent: ReadonlyMap<string, number>): PlannerFacts {
  return { nowMs: w.nowMs, silentMs: silent, suspect: new Set(), downAfterMs: 5_000, downOutIntervalMs: 10 * minute, actionsMax: 8, copiesPerServerMax: 2 };
}

/** One planner round: the plan is checked, and every command must apply, in order. */
function round(w: World, f: PlannerFacts, planner: (s: MetaState, f: PlannerFacts) => PlannedCommand[]): number {
  const plan = planner(w.state, f);
  w.state.checkPlan(f, plan);
  for (const cmd of plan) {
    const result = w.state.apply(cmd);
    if (!result.ok) throw new AssertionError(`planned ${cmd.type} was refused: ${result.error.message}`);
  }
  w.state.checkInvariants();
  return plan.length;
}

const plannerOf = (s: MetaState, f: PlannerFacts): PlannedCommand[] => s.planRepairs(f);

function runSeed(seed: number, planner = plannerOf): void {
  const w = newWorld(seed);
  for (let step = 0; step < 150; step++) {
    w.nowMs += w.rng.pick([1_000, 1_000, 3 * minute]);
    const event = randomEvent(w);
    if (event !== null) {
      const before = w.state.hash();
      const result = w.state.apply(event);
      if (!result.ok) expect(w.state.hash()).toBe(before);
    }
    w.state.checkInvariants();
    const silent = new Map(w.state.listServers().filter(() => w.rng.chance(0.05)).map((s) => [s.id, 10_000] as const));
    round(w, facts(w, silent), planner);
  }
  settle(w, planner);
}

/** Faults stop: every remaining server is up and none drains; copies complete. Full redundancy follows. */
function settle(w: World, planner: typeof plannerOf): void {
  for (const s of w.state.listServers()) {
    must(w.state, { type: 'registerServer', serverId: s.id, address: s.address, zone: s.zone, capacityBytes: s.capacityBytes, freeBytes: s.freeBytes, nowMs: w.nowMs });
    must(w.state, { type: 'setServerDraining', serverId: s.id, draining: false });
  }
  const up = w.state.listServers().length;
  for (let i = 0; i < 200; i++) {
    w.nowMs += 1_000;
    const planned = round(w, facts(w, new Map()), planner);
    let promoted = 0;
    for (let c = completeCopy(w); c !== null; c = completeCopy(w), promoted++) must(w.state, c);
    if (planned === 0 && promoted === 0) break;
  }
  for (const { volume, factor, extent } of allExtents(w.state)) {
    const active = extent.replicas.filter((r) => !r.rebuilding).length;
    expect(extent.replicas.length, `${volume}/${extent.index} still rebuilding`).toBe(active);
    expect(active, `${volume}/${extent.index} at ${active} of ${factor} with ${up} servers`).toBeGreaterThanOrEqual(Math.min(factor, up));
  }
}

const seeds = process.env.SEED === undefined ? Array.from({ length: 40 }, (_, i) => 7000 + i) : [Number(process.env.SEED)];

describe('the repair planner under random events', () => {
  it.each(seeds)('SEED=%i keeps every invariant and returns to full redundancy once faults stop', (seed) => {
    runSeed(seed);
  });
});

describe('rules broken on purpose are caught', () => {
  it('a planner that drains a member without adding first fails checkPlan', () => {
    const rushed = (s: MetaState, f: PlannerFacts): PlannedCommand[] => {
      const plan = s.planRepairs(f);
      const draining = new Set(s.listServers().filter((x) => x.draining).map((x) => x.id));
      for (const { volume, extent } of allExtents(s)) {
        const victim = extent.replicas.find((r) => draining.has(r.serverId) && !r.rebuilding);
        const planned = plan.some((c) => c.type !== 'markServerDown' && c.type !== 'markServerOut' && c.name === volume && c.index === extent.index);
        if (victim !== undefined && !planned && extent.replicas.length > 1) {
          return [...plan, { type: 'dropReplica', name: volume, index: extent.index, serverId: victim.serverId, expectedEpoch: extent.epoch, reason: 'drained' }];
        }
      }
      return plan;
    };
    expect(() => {
      for (const seed of seeds) runSeed(seed, rushed);
    }).toThrow(/plan drains .* below the factor/);
  });

  it('a state with a member both active and rebuilding fails the invariant checker', () => {
    const state = MetaState.empty();
    registerServers(state, [{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }, { id: 'c', zone: 'z3' }]);
    must(state, { type: 'createVolume', name: 'v', sizeBytes: 1 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 2, nowMs: 1 });
    must(state, { type: 'allocateExtent', name: 'v', index: 0 });
    const snapshot = JSON.parse(new TextDecoder().decode(state.encodeSnapshot())) as { volumes: unknown[][] };
    const extents = snapshot.volumes[0]![9] as number[];
    // [index, epoch, 2 active, p, s, 0 rebuilding, 0 former] -> the secondary also rebuilding.
    expect(extents.slice(2)).toEqual([2, extents[3], extents[4], 0, 0]);
    const bad = [...extents.slice(0, 5), 1, extents[4]!, 0];
    snapshot.volumes[0]![9] = bad;
    expect(() => MetaState.decodeSnapshot(new TextEncoder().encode(JSON.stringify(snapshot)))).toThrow(/twice/);
  });

  it('apply refuses a planner that drops the last active member', () => {
    const state = MetaState.empty();
    registerServers(state, [{ id: 'a', zone: 'z1' }]);
    must(state, { type: 'createVolume', name: 'v', sizeBytes: 1 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 1, nowMs: 1 });
    must(state, { type: 'allocateExtent', name: 'v', index: 0 });
    must(state, { type: 'markServerOut', serverId: 'a', nowMs: 2 });
    const f: PlannerFacts = { nowMs: 3, silentMs: new Map(), suspect: new Set(), downAfterMs: 5_000, downOutIntervalMs: minute, actionsMax: 8, copiesPerServerMax: 2 };
    const reckless: PlannedCommand[] = [{ type: 'dropReplica', name: 'v', index: 0, serverId: 'a', expectedEpoch: 1, reason: 'out' }];
    expect(() => state.checkPlan(f, reckless)).toThrow(/last active member/);
    expect(state.apply(reckless[0]!)).toMatchObject({ ok: false, error: { code: 'BASALT_LAST_REPLICA' } });
  });
});
