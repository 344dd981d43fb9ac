/**
 * metad's side of self-healing against a real 3-member cluster, with chunk servers played by
 * the test through the gRPC API (register, heartbeat with repair progress, ListRepairTasks,
 * PromoteReplica), the way chunkd's rebuild executor would: heartbeats are not Raft proposals
 * (the applied index stays put while they flow); a server that stops heartbeating
 * goes down, then out after the (short) down-out interval, its extents get rebuilding members
 * on the others, promotion brings them back to full redundancy; a drain adds a member before
 * it drops the drained one, after which the server can be removed; removal is refused while a
 * server holds the only active copy of an extent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, GiB, MiB } from '@basalt/stdx';
import type { MetaClient, pb } from '@basalt/wire';
import { MetaCluster } from './lib/meta-cluster.js';
import { codeOf } from './lib/errors.js';
import { ProcessScope, waitFor } from './lib/process.js';

const scope = new ProcessScope();
let cluster: MetaCluster;
let meta: MetaClient;
/** Chunk servers this test keeps alive with heartbeats, and the repair progress each reports. */
const beating = new Map<string, pb.IRepairProgress>();
let heartbeats: NodeJS.Timeout | undefined;

beforeAll(async () => {
  cluster = await MetaCluster.start(scope, { flags: ['--chunk-heartbeat-ms', '200', '--chunk-down-after-ms', '1500', '--down-out-interval', '2s'] });
  await cluster.waitForLeader();
  meta = cluster.client();
  heartbeats = setInterval(() => {
    for (const [id, repair] of beating) void meta.call('heartbeat', { id, freeBytes: 50 * GiB, repair }).catch(() => undefined);
  }, 200);
});

afterAll(async () => {
  clearInterval(heartbeats);
  cluster?.close();
  await scope.cleanup();
});

async function register(id: string, zone: string): Promise<void> {
  await meta.call('registerServer', { id, address: `127.0.0.1:${21000 + Number(id.slice(2))}`, zone, capacityBytes: 100 * GiB, freeBytes: 100 * GiB });
  beating.set(id, {});
}

async function extents(volume: string): Promise<pb.IExtent[]> {
  return (await meta.call('getExtentMap', { volume, fromIndex: 0, count: 64 })).extents;
}

const ids = (e: pb.IExtent, rebuilding: boolean): string[] => (e.replicas ?? []).filter((r) => (r.rebuilding === true) === rebuilding).map((r) => r.serverId ?? '');

async function stateOf(id: string): Promise<string | undefined> {
  const { servers } = await meta.call('listServers', {});
  return servers.find((s) => s.id === id)?.state ?? undefined;
}

/** Plays every primary's rebuild executor once: each task's rebuilding members promoted at the task's epoch. */
async function completeCopies(): Promise<number> {
  let promoted = 0;
  for (const id of beating.keys()) {
    const { tasks } = await meta.call('listRepairTasks', { serverId: id });
    for (const task of tasks) {
      expect(task.replicas?.[0]?.serverId).toBe(id);
      const target = task.replicas?.find((r) => r.rebuilding === true);
      if (target === undefined) continue;
      await meta.call('promoteReplica', { volume: task.volume, index: task.index, serverId: target.serverId, expectedEpoch: task.epoch });
      promoted += 1;
    }
  }
  return promoted;
}

describe('metad heals replica sets', () => {
  it('heartbeats are not Raft proposals: the applied index stays put while servers heartbeat', async () => {
    for (const [i, zone] of ['a', 'b', 'c', 'd'].entries()) await register(`cs${i}`, zone);
    // Registered with 100 GiB free, they report 50: a change past the threshold is recorded once.
    for (const id of beating.keys()) await meta.call('heartbeat', { id, freeBytes: 50 * GiB });
    const applied = async () => {
      const s = await cluster.status(await cluster.waitForLeader());
      return { term: s.term, index: Number(s.appliedIndex) };
    };
    // Smaller changes of free space (within limits.metaFreeBytesReportDeltaBytes) are not recorded.
    // A leader change appends an entry of its own: measure again across one.
    for (let attempt = 0; ; attempt++) {
      const before = await applied();
      for (let n = 0; n < 10; n++) for (const id of beating.keys()) await meta.call('heartbeat', { id, freeBytes: 50 * GiB + n * MiB });
      const after = await applied();
      if (after.term !== before.term && attempt < 3) continue;
      expect(after).toEqual(before);
      break;
    }
  });

  it('refuses to remove a server that holds the only active copy of an extent', async () => {
    await meta.call('createVolume', { name: 'single', sizeBytes: 64 * MiB, extentSizeBytes: 64 * MiB, replicationFactor: 1 });
    const only = (await meta.call('allocateExtent', { volume: 'single', index: 0 })).extent!.primary;
    expect(await codeOf(meta.call('removeServer', { id: only }))).toBe(ErrorCode.ServerBusy);
    await meta.call('deleteVolume', { name: 'single' });
  });

  it('a silent server goes down, then out; its extents are rebuilt on the others and promoted to full redundancy', async () => {
    await meta.call('createVolume', { name: 'vol', sizeBytes: GiB, extentSizeBytes: 64 * MiB, replicationFactor: 3 });
    for (let i = 0; i < 4; i++) await meta.call('allocateExtent', { volume: 'vol', index: i });
    const victim = ids((await extents('vol'))[0]!, false)[1]!;
    const hit = (await extents('vol')).filter((e) => ids(e, false).includes(victim)).map((e) => Number(e.index));
    beating.delete(victim);
    await waitFor(`${victim} to be marked down`, async () => (await stateOf(victim)) === 'down');
    // Down is not out: its memberships stay until the down-out interval passes.
    expect((await extents('vol')).filter((e) => ids(e, false).includes(victim)).length).toBe(hit.length);
    await waitFor(`${victim} to be marked out`, async () => (await stateOf(victim)) === 'out');
    await waitFor('every hit extent to get a rebuilding member', async () => {
      const now = await extents('vol');
      return hit.every((i) => {
        const e = now.find((x) => Number(x.index) === i)!;
        return !ids(e, false).includes(victim) && ids(e, true).length === 1;
      });
    });
    const degraded = await meta.call('getRepairStatus', {});
    expect(Number(degraded.degradedExtents)).toBe(hit.length);
    expect(Number(degraded.rebuildingReplicas)).toBe(hit.length);

    beating.set(ids((await extents('vol'))[0]!, false)[0]!, { copiesRunning: 1, bytesLeft: 1000, rateBytesPerSec: 100 });
    await waitFor('the repair progress to be reported', async () => Number((await meta.call('getRepairStatus', {})).bytesLeft) === 1000);
    expect(Number((await meta.call('getRepairStatus', {})).etaSeconds)).toBe(10);
    const { servers } = await meta.call('listServers', {});
    expect(servers.some((s) => Number(s.repair?.bytesLeft ?? 0) === 1000)).toBe(true);
    for (const id of beating.keys()) beating.set(id, {});

    expect(await completeCopies()).toBe(hit.length);
    const status = await meta.call('getRepairStatus', {});
    expect(status).toMatchObject({ degradedExtents: 0, criticalExtents: 0, rebuildingReplicas: 0, waitingExtents: 0 });
    for (const e of await extents('vol')) expect(ids(e, false)).toHaveLength(3);
    // Every member counts out servers; the actions are counted where they were proposed (the leader, or leaders).
    const pages = await Promise.all([0, 1, 2].map(async (i) => (await fetch(`http://127.0.0.1:${cluster.member(i).metricsPort}/metrics`)).text()));
    for (const page of pages) expect(page).toContain('basalt_meta_chunk_servers{state="out"} 1');
    expect(pages.some((page) => /basalt_meta_repair_actions_total\{kind="addRebuilding",result="applied"\} [1-9]/.test(page))).toBe(true);
    expect(pages.some((page) => /basalt_meta_repair_actions_total\{kind="dropReplica:out",result="applied"\} [1-9]/.test(page))).toBe(true);
    await meta.call('removeServer', { id: victim });
    expect(await stateOf(victim)).toBeUndefined();
  });

  it('a drain adds a member before it drops the drained one; then the server can be removed', async () => {
    await register('cs4', 'e');
    const drained = ids((await extents('vol'))[0]!, false)[0]!;
    const held = (await extents('vol')).filter((e) => ids(e, false).includes(drained)).map((e) => Number(e.index));
    const reply = await meta.call('drainServer', { id: drained, drain: true });
    expect(reply.server).toMatchObject({ id: drained, state: 'draining', draining: true });
    const first = await waitFor('a rebuilding member for a drained extent', async () => (await extents('vol')).find((e) => ids(e, true).length === 1));
    expect(held).toContain(Number(first.index));
    expect(ids(first, false)).toContain(drained);
    // Copies run at most limits.repairCopiesPerServerMax per server at once: complete them round by round.
    await waitFor('the drained server dropped from every set', async () => {
      await completeCopies();
      const now = await extents('vol');
      // Never below the factor on purpose: every extent keeps three active members throughout.
      for (const e of now) expect(ids(e, false).length).toBeGreaterThanOrEqual(3);
      return now.every((e) => !ids(e, false).includes(drained) && ids(e, true).length === 0);
    });
    await meta.call('removeServer', { id: drained });
    beating.delete(drained);
    expect(await stateOf(drained)).toBeUndefined();
    expect(await meta.call('getRepairStatus', {})).toMatchObject({ degradedExtents: 0, rebuildingReplicas: 0 });
  });
});
