import { GiB, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import type { Command, CreateVolumeCommand } from './commands.js';
import { MetaState } from './meta-state.js';
import type { PlannedCommand, PlannerFacts } from './repair-planner.js';
import { must, registerServers, type ServerSpec } from './test-fixtures.js';

const create: CreateVolumeCommand = { type: 'createVolume', name: 'v', sizeBytes: 1 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 1 };
const minute = 60_000;

function facts(over: Partial<PlannerFacts> = {}): PlannerFacts {
  return { nowMs: 1_000_000, silentMs: new Map(), suspect: new Set(), downAfterMs: 5_000, downOutIntervalMs: 10 * minute, actionsMax: 64, copiesPerServerMax: 2, ...over };
}

function cluster(specs: readonly ServerSpec[], extents: number, factor = 3): MetaState {
  const state = MetaState.empty();
  registerServers(state, specs);
  must(state, { ...create, replicationFactor: factor });
  for (let i = 0; i < extents; i++) must(state, { type: 'allocateExtent', name: 'v', index: i });
  return state;
}

/** The plan, after checking its invariants. */
function plan(state: MetaState, f: PlannerFacts = facts()): PlannedCommand[] {
  const p = state.planRepairs(f);
  state.checkPlan(f, p);
  return p;
}

function applyAll(state: MetaState, cmds: readonly Command[]): void {
  for (const cmd of cmds) must(state, cmd);
  state.checkInvariants();
}

function membersOf(state: MetaState, index: number): string[] {
  const map = state.extentMap('v', index, 1);
  if (!map.ok) throw new Error(map.error.message);
  return map.value.extents[0]!.replicas.map((r) => `${r.serverId}${r.rebuilding ? '*' : ''}`);
}

const out = (serverId: string): Command => ({ type: 'markServerOut', serverId, nowMs: 2 });
const down = (serverId: string, nowMs = 999_000): Command => ({ type: 'markServerDown', serverId, nowMs });

describe('repair planner: liveness', () => {
  it('marks a silent up server down, and a server down for the down-out interval out', () => {
    const state = cluster([{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }, { id: 'c', zone: 'z3' }], 0);
    expect(plan(state, facts({ silentMs: new Map([['a', 4_000], ['b', 6_000]]) }))).toEqual([{ type: 'markServerDown', serverId: 'b', nowMs: 1_000_000 }]);
    must(state, down('c', 1_000_000 - 10 * minute + 1));
    expect(plan(state)).toEqual([]);
    expect(plan(state, facts({ nowMs: 1_000_001 }))).toEqual([{ type: 'markServerOut', serverId: 'c', nowMs: 1_000_001 }]);
  });
});

describe('repair planner: re-replication', () => {
  const four = [{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }, { id: 'c', zone: 'z3' }, { id: 'd', zone: 'z4' }];

  it('down is not out: a down member is kept and nothing is copied', () => {
    const state = cluster(four, 1);
    const victim = membersOf(state, 0)[1]!;
    must(state, down(victim));
    expect(plan(state)).toEqual([]);
  });

  it('an out member is dropped, then a rebuilding member is added on the server outside the set', () => {
    const state = cluster(four, 1);
    const before = membersOf(state, 0);
    const victim = before[1]!;
    must(state, out(victim));
    const first = plan(state);
    expect(first).toEqual([{ type: 'dropReplica', name: 'v', index: 0, serverId: victim, expectedEpoch: 1, reason: 'out' }]);
    applyAll(state, first);
    const spare = four.map((s) => s.id).find((id) => !before.includes(id))!;
    expect(plan(state)).toEqual([{ type: 'addRebuilding', name: 'v', index: 0, serverId: spare, expectedEpoch: 2 }]);
  });

  it('a former member that is up is the first choice (catch-up), and a merely down one is waited for', () => {
    const state = cluster([...four, { id: 'e', zone: 'z5' }], 1);
    const victim = membersOf(state, 0)[2]!;
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: victim, expectedEpoch: 1, reason: 'timeout' });
    must(state, down(victim));
    expect(plan(state)).toEqual([]);
    must(state, { type: 'markServerUp', serverId: victim, nowMs: 3 });
    expect(plan(state)).toEqual([{ type: 'addRebuilding', name: 'v', index: 0, serverId: victim, expectedEpoch: 2 }]);
  });

  it('a member reported failed is not added back, nor chosen elsewhere, before the leader hears from it again', () => {
    const state = cluster([...four, { id: 'e', zone: 'z5' }], 1);
    const victim = membersOf(state, 0)[2]!;
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: victim, expectedEpoch: 1, reason: 'unreachable' });
    // Still up in the state (liveness has not marked it down yet), but suspect: the extent waits.
    expect(plan(state, facts({ suspect: new Set([victim]) }))).toEqual([]);
    expect(plan(state)).toEqual([{ type: 'addRebuilding', name: 'v', index: 0, serverId: victim, expectedEpoch: 2 }]);
    // A suspect server is no new target either.
    must(state, out(victim));
    const spares = [...four, { id: 'e', zone: 'z5' }].map((s) => s.id).filter((id) => !membersOf(state, 0).includes(id) && id !== victim);
    const target = plan(state)[0];
    expect(target).toMatchObject({ type: 'addRebuilding' });
    const other = spares.find((id) => id !== (target as { serverId: string }).serverId)!;
    expect(plan(state, facts({ suspect: new Set(spares.filter((id) => id !== other)) }))).toMatchObject([{ type: 'addRebuilding', serverId: other }]);
  });

  it('a catch-up target that went away (killed before metad saw it down) stays former: it is waited for, not replaced', () => {
    const state = cluster([...four, { id: 'e', zone: 'z5' }], 1);
    const victim = membersOf(state, 0)[2]!;
    // The primary's write to the killed server failed; metad still lists the server as up.
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: victim, expectedEpoch: 1, reason: 'unreachable' });
    expect(plan(state)).toEqual([{ type: 'addRebuilding', name: 'v', index: 0, serverId: victim, expectedEpoch: 2 }]);
    applyAll(state, plan(state));
    expect(plan(state)).toEqual([]);
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: victim, expectedEpoch: 3, reason: 'unreachable' });
    must(state, down(victim));
    expect(plan(state)).toEqual([]);
    must(state, { type: 'markServerUp', serverId: victim, nowMs: 3 });
    expect(plan(state)).toEqual([{ type: 'addRebuilding', name: 'v', index: 0, serverId: victim, expectedEpoch: 4 }]);
    state.checkInvariants();
  });

  it('a former member busy with as many catch-ups as allowed is waited for, not replaced by a whole copy elsewhere', () => {
    const state = cluster([{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }, { id: 'c', zone: 'z3' }, { id: 'd', zone: 'z4' }], 4);
    const holders = [0, 1, 2, 3].filter((i) => membersOf(state, i).includes('d'));
    expect(holders.length).toBeGreaterThan(2);
    for (const i of holders) must(state, { type: 'dropReplica', name: 'v', index: i, serverId: 'd', expectedEpoch: 1, reason: 'unreachable' });
    const first = plan(state);
    expect(first.map((c) => [c.type, (c as { serverId: string }).serverId])).toEqual([['addRebuilding', 'd'], ['addRebuilding', 'd']]);
    applyAll(state, first);
    expect(plan(state)).toEqual([]);
  });

  it('a catch-up target whose copy failed on its disk leaves former: a new server is chosen', () => {
    const state = cluster([...four, { id: 'e', zone: 'z5' }], 1);
    const victim = membersOf(state, 0)[2]!;
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: victim, expectedEpoch: 1, reason: 'unreachable' });
    applyAll(state, plan(state));
    must(state, { type: 'dropReplica', name: 'v', index: 0, serverId: victim, expectedEpoch: 3, reason: 'no_space' });
    const [next] = plan(state);
    expect(next).toMatchObject({ type: 'addRebuilding', expectedEpoch: 4 });
    expect((next as { serverId: string }).serverId).not.toBe(victim);
    state.checkInvariants();
  });

  it('places no new copy on a server without room for the extent; none at all when no server has room', () => {
    const state = cluster([{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }, { id: 'c', zone: 'z3' }, { id: 'd', zone: 'z4', freeBytes: 32 * MiB }], 0);
    must(state, { type: 'setServerDraining', serverId: 'd', draining: true });
    must(state, { type: 'allocateExtent', name: 'v', index: 0 });
    must(state, { type: 'setServerDraining', serverId: 'd', draining: false });
    must(state, out('c'));
    applyAll(state, plan(state));
    expect(plan(state)).toEqual([]);
    registerServers(state, [{ id: 'e', zone: 'z5' }]);
    expect(plan(state)).toMatchObject([{ type: 'addRebuilding', serverId: 'e' }]);
  });

  it('chooses a new target in an unused zone first, then by free space', () => {
    const state = cluster([
      { id: 'a', zone: 'z1', freeBytes: 50 * GiB }, { id: 'b', zone: 'z2', freeBytes: 50 * GiB }, { id: 'c', zone: 'z3', freeBytes: 50 * GiB },
      { id: 'a2', zone: 'z1', freeBytes: 90 * GiB }, { id: 'd', zone: 'z4', freeBytes: 10 * GiB }, { id: 'e', zone: 'z5', freeBytes: 20 * GiB },
    ], 0);
    must(state, { type: 'setServerDraining', serverId: 'a2', draining: true });
    must(state, { type: 'allocateExtent', name: 'v', index: 0 });
    must(state, { type: 'setServerDraining', serverId: 'a2', draining: false });
    const victim = membersOf(state, 0).find((id) => id !== 'a')!;
    must(state, out(victim));
    applyAll(state, plan(state));
    expect(plan(state)).toMatchObject([{ type: 'addRebuilding', serverId: 'e' }]);
  });

  it('rebuilding members on a down or out server are dropped', () => {
    const state = cluster(four, 1);
    const spare = four.map((s) => s.id).find((id) => !membersOf(state, 0).includes(id))!;
    must(state, { type: 'addRebuilding', name: 'v', index: 0, serverId: spare, expectedEpoch: 1 });
    must(state, down(spare));
    expect(plan(state)).toEqual([{ type: 'dropReplica', name: 'v', index: 0, serverId: spare, expectedEpoch: 2, reason: 'rebuild_target_down' }]);
  });

  it('never drops the last active member, even on an out server', () => {
    const state = cluster([{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }], 1, 1);
    const only = membersOf(state, 0)[0]!;
    must(state, out(only));
    expect(plan(state)).toEqual([]);
  });

  it('a server is the target of at most copiesPerServerMax rebuilding members, and a primary the source of as many', () => {
    // Factor 1 on two servers: every extent's only other candidate is the same server.
    const state = cluster([{ id: 'a', zone: 'z1', freeBytes: 90 * GiB }, { id: 'b', zone: 'z2', freeBytes: 10 * GiB }], 6, 1);
    must(state, { type: 'setServerDraining', serverId: 'a', draining: true });
    const first = plan(state, facts({ copiesPerServerMax: 2 }));
    expect(first.map((c) => c.type)).toEqual(['addRebuilding', 'addRebuilding']);
    applyAll(state, first);
    expect(plan(state, facts({ copiesPerServerMax: 2 }))).toEqual([]);
    expect(plan(state, facts({ copiesPerServerMax: 3 }))).toHaveLength(1);
  });

  it('most degraded first (one active member left before two), bounded per round and per server', () => {
    const servers = Array.from({ length: 7 }, (_, i) => ({ id: `s${i}`, zone: `z${i}` }));
    const state = cluster(servers, 12);
    const five = membersOf(state, 5);
    must(state, out(five[1]!));
    must(state, out(five[2]!));
    for (let round = 0; round < 4; round++) applyAll(state, plan(state, facts({ actionsMax: 1000 })).filter((c) => c.type === 'dropReplica'));
    const active = (index: number) => membersOf(state, index).filter((m) => !m.endsWith('*')).length;
    expect(active(5)).toBe(1);
    const p = plan(state, facts({ actionsMax: 4, copiesPerServerMax: 1 }));
    expect(p.length).toBeGreaterThan(0);
    expect(p.length).toBeLessThanOrEqual(4);
    const counts = p.map((c) => (c.type === 'addRebuilding' ? active(c.index) : 0));
    expect(counts[0]).toBe(1);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
  });
});

describe('repair planner: drain', () => {
  it('adds before it drops: a rebuilding member first, the draining member only after promotion', () => {
    const four = [{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }, { id: 'c', zone: 'z3' }, { id: 'd', zone: 'z4' }];
    const state = cluster(four, 1);
    const members = membersOf(state, 0);
    const spare = four.map((s) => s.id).find((id) => !members.includes(id))!;
    must(state, { type: 'setServerDraining', serverId: members[0]!, draining: true });
    const add = plan(state);
    expect(add).toEqual([{ type: 'addRebuilding', name: 'v', index: 0, serverId: spare, expectedEpoch: 1 }]);
    applyAll(state, add);
    expect(plan(state)).toEqual([]);
    must(state, { type: 'promoteReplica', name: 'v', index: 0, serverId: spare, expectedEpoch: 2 });
    const drop = plan(state);
    expect(drop).toEqual([{ type: 'dropReplica', name: 'v', index: 0, serverId: members[0], expectedEpoch: 3, reason: 'drained' }]);
    applyAll(state, drop);
    expect(membersOf(state, 0)).toEqual([members[1], members[2], spare]);
    expect(plan(state)).toEqual([]);
    must(state, { type: 'removeServer', serverId: members[0]!, dropFromSets: true });
  });

  it('a drain waits while a staying member is down (never below the factor on up servers)', () => {
    const four = [{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }, { id: 'c', zone: 'z3' }, { id: 'd', zone: 'z4' }];
    const state = cluster(four, 1);
    const members = membersOf(state, 0);
    const spare = four.map((s) => s.id).find((id) => !members.includes(id))!;
    must(state, { type: 'setServerDraining', serverId: members[0]!, draining: true });
    applyAll(state, plan(state));
    must(state, { type: 'promoteReplica', name: 'v', index: 0, serverId: spare, expectedEpoch: 2 });
    must(state, down(members[1]!));
    expect(plan(state)).toEqual([]);
  });
});
