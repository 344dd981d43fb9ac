import { ErrorCode, GiB, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import { MetaState } from './meta-state.js';
import { must, refuse, registerServers } from './test-fixtures.js';
import type { ExtentView } from './views.js';

const extents = 12;

/** Four servers in four zones; extents 0..11 of v allocated (3 replicas each, primaries spread). */
function volume(): { state: MetaState; placed: ExtentView[] } {
  const state = MetaState.empty();
  registerServers(state, ['a', 'b', 'c', 'd'].map((id, i) => ({ id, zone: `z${i}`, freeBytes: 100 * GiB })));
  must(state, { type: 'createVolume', name: 'v', sizeBytes: extents * 64 * MiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 1 });
  const placed = Array.from({ length: extents }, (_, index) => must(state, { type: 'allocateExtent', name: 'v', index }));
  return { state, placed };
}

function led(state: MetaState, serverId: string): number[] {
  const map = state.extentMap('v', 0, extents);
  if (!map.ok) throw new Error(map.error.message);
  return map.value.extents.filter((e) => e.primary === serverId).map((e) => e.index);
}

describe('a client report of a silent primary fails over the whole volume', () => {
  it('drops the server from every extent of the volume it leads, each at its own epoch, the reported one first', () => {
    const { state, placed } = volume();
    const first = placed[0]!;
    const x = first.primary;
    const others = led(state, x).filter((i) => i !== 0);
    expect(others.length).toBeGreaterThan(0);
    const decided = state.decideFailover({ volume: 'v', index: 0, serverId: x, expectedEpoch: first.epoch, reason: 'unreachable' }, 64);
    if (!decided.ok) throw new Error(decided.error.message);
    expect(decided.value.map((c) => c.index)).toEqual([0, ...others]);
    for (const cmd of decided.value) expect(cmd).toEqual({ type: 'dropReplica', name: 'v', index: cmd.index, serverId: x, expectedEpoch: placed[cmd.index]!.epoch, reason: 'unreachable' });
    for (const cmd of decided.value) must(state, cmd);
    expect(led(state, x)).toEqual([]);
    // Where it was a secondary it stays: those primaries drop it at their next forward.
    const map = state.extentMap('v', 0, extents);
    if (!map.ok) throw new Error(map.error.message);
    expect(map.value.extents.filter((e) => e.replicas.some((r) => r.serverId === x)).length).toBe(placed.filter((p) => p.primary !== x && p.replicas.some((r) => r.serverId === x)).length);
    state.checkInvariants();
  });

  it('refuses as a single report would: a stale epoch or an unknown member refuses the whole report', () => {
    const { state, placed } = volume();
    const first = placed[0]!;
    expect(state.decideFailover({ volume: 'v', index: 0, serverId: first.primary, expectedEpoch: first.epoch + 1, reason: 'unreachable' }, 64)).toMatchObject({ ok: false, error: { code: ErrorCode.StaleEpoch } });
    const outsider = ['a', 'b', 'c', 'd'].find((id) => !first.replicas.some((r) => r.serverId === id))!;
    expect(state.decideFailover({ volume: 'v', index: 0, serverId: outsider, expectedEpoch: first.epoch, reason: 'unreachable' }, 64)).toMatchObject({ ok: false, error: { code: ErrorCode.ReplicaNotFound } });
  });

  it('stays one extent wide for a secondary, for a reason that blames one disk, and within max', () => {
    const { state, placed } = volume();
    const first = placed[0]!;
    const secondary = first.replicas[1]!.serverId;
    const one = (serverId: string, reason: string, max = 64): number[] => {
      const r = state.decideFailover({ volume: 'v', index: 0, serverId, expectedEpoch: first.epoch, reason }, max);
      if (!r.ok) throw new Error(r.error.message);
      return r.value.map((c) => c.index);
    };
    expect(one(secondary, 'unreachable')).toEqual([0]);
    expect(one(first.primary, 'io')).toEqual([0]);
    expect(one(first.primary, 'timeout')).toEqual(led(state, first.primary));
    expect(one(first.primary, 'unreachable', 2)).toEqual(led(state, first.primary).slice(0, 2));
  });

  it('leaves out an extent where the server is the last active member, and a command the state moved past is refused alone', () => {
    const { state, placed } = volume();
    const x = placed[0]!.primary;
    const [, second, third] = led(state, x);
    expect(third).toBeDefined();
    // The second extent keeps only x; the third moves on after the decision.
    let e = placed[second!]!;
    for (const r of e.replicas.slice(1)) e = must(state, { type: 'dropReplica', name: 'v', index: second!, serverId: r.serverId, expectedEpoch: e.epoch, reason: 'io' });
    const decided = state.decideFailover({ volume: 'v', index: 0, serverId: x, expectedEpoch: placed[0]!.epoch, reason: 'unreachable' }, 64);
    if (!decided.ok) throw new Error(decided.error.message);
    expect(decided.value.map((c) => c.index)).not.toContain(second);
    const t = placed[third!]!;
    must(state, { type: 'dropReplica', name: 'v', index: third!, serverId: t.replicas[2]!.serverId, expectedEpoch: t.epoch, reason: 'io' });
    for (const cmd of decided.value) {
      if (cmd.index === third) refuse(state, cmd, ErrorCode.StaleEpoch);
      else must(state, cmd);
    }
    expect(led(state, x)).toEqual([second, third]);
    state.checkInvariants();
  });
});
