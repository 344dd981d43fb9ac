import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isBasaltError, MiB, Prng } from '@basalt/stdx';
import { startMetad } from '@basalt/meta';
import { MetaClient, type DataConnection, type ExtentRef } from '@basalt/wire';
import { Cleanup, connectData, killChunkd, sample, scrape, spawnChunkd, tempDir, type ChunkProc } from './chunk-support.js';
import { freePorts } from './lib/process.js';

/**
 * kill -9 of a secondary during a stream of writes, with a real metad (in this process) and
 * real chunkd processes: the primary reports the dead replica, metad drops it and writes go on;
 * no acknowledged write is lost; the dead server comes back, its stale replica is refused, and
 * metad's planner makes it a member again once the primary has copied it what it missed.
 */
const SEED = Number(process.env.SEED ?? 99);
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const blockBytes = 4096;
const slots = 512;
const volume = 'failover';

describe('replication under failure', () => {
  it('continues writing after a secondary is killed, loses no acknowledged write, fences the returning server and catches it up', async () => {
    const prng = new Prng(SEED);
    const [port] = await freePorts(1);
    const metad = await startMetad({ id: 'm1', listen: `127.0.0.1:${port!}`, peers: new Map(), dataDir: tempDir(cleanup), log: () => undefined });
    cleanup.add(() => metad.close());
    const meta = new MetaClient({ endpoints: [metad.address] });
    cleanup.add(() => meta.close());
    const dirs = [0, 1, 2].map(() => tempDir(cleanup));
    const procs = await Promise.all(dirs.map((dataDir, i) => spawnChunkd(cleanup, { id: `cs${i}`, dataDir, metad: [metad.address], directWrites: 'members' })));
    await waitFor(async () => ((await meta.call('listServers', {})).servers ?? []).filter((s) => s.state === 'up').length === 3);

    const vol = (await meta.call('createVolume', { name: volume, sizeBytes: 64 * MiB, extentSizeBytes: 4 * MiB, replicationFactor: 3 })).volume!;
    const generation = Number((await meta.call('acquireLease', { volume, clientId: 'test-writer' })).generation);
    await meta.call('allocateExtent', { volume, index: 0 });
    const currentExtent = async (): Promise<ExtentRef> => {
      const map = await meta.call('getExtentMap', { volume, fromIndex: 0, count: 1 });
      const e = map.extents[0]!;
      const all = (e.replicas ?? []).map((r) => (r.rebuilding ? { serverId: r.serverId, address: r.address, rebuilding: true } : { serverId: r.serverId, address: r.address }));
      const replicas = [...all.filter((r) => r.serverId === e.primary), ...all.filter((r) => r.serverId !== e.primary)];
      return { volumeId: Number(vol.id), index: 0, extentSizeBytes: Number(map.extentSizeBytes), epoch: Number(e.epoch), generation, replicas };
    };
    let ext = await currentExtent();
    expect(ext.replicas.length).toBe(3);
    const byId = new Map(procs.map((p) => [p.id, p]));
    const victim = byId.get(ext.replicas[2]!.serverId)!;
    const conns = new Map<string, DataConnection>();
    const connTo = async (address: string): Promise<DataConnection> => {
      const c = conns.get(address);
      if (c !== undefined && !c.closed) return c;
      const fresh = await connectData(cleanup, address);
      conns.set(address, fresh);
      return fresh;
    };

    // The model holds, per 4 KiB slot, the last acknowledged contents.
    const acked = new Map<number, Buffer>();
    let retries = 0;
    const writeSlot = async (slot: number, data: Buffer): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          await (await connTo(ext.replicas[0]!.address)).write(ext, slot * blockBytes, data);
          acked.set(slot, data);
          return;
        } catch (err) {
          if (!isBasaltError(err) || attempt > 20) throw err;
          if (![ErrorCode.StaleEpoch, ErrorCode.NotPrimary, ErrorCode.Unavailable, ErrorCode.Timeout].includes(err.code as never)) throw err;
          retries++;
          await new Promise((r) => setTimeout(r, 100));
          ext = await currentExtent();
        }
      }
    };
    let next = 0;
    const stream = async (count: number): Promise<void> => {
      const workers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; i < count; i += 8) {
          const slot = (next + i) % slots;
          await writeSlot(slot, Buffer.from(prng.fill(new Uint8Array(blockBytes))));
        }
      });
      await Promise.all(workers);
      next += count;
    };

    await stream(400);
    const killed = stream(800);
    await new Promise((r) => setTimeout(r, 200));
    await killChunkd(victim);
    await killed;
    await stream(200);

    ext = await currentExtent();
    expect(ext.epoch, `SEED=${SEED}`).toBeGreaterThan(1);
    expect(ext.replicas.map((r) => r.serverId)).not.toContain(victim.id);
    expect(ext.replicas.length).toBe(2);
    const primaryProc = byId.get(ext.replicas[0]!.serverId)!;
    const page = await scrape(primaryProc.metricsAddress);
    expect(sample(page, 'basalt_chunk_replicas_dropped_total')).toBe(1);
    expect(sample(page, 'basalt_chunk_degraded_extents')).toBe(1);
    // The primary's log says which secondary it dropped, and what metad answered.
    expect(primaryProc.log()).toContain(`secondary ${victim.id} of extent ${ext.volumeId}/${ext.index} failed`);
    expect(primaryProc.log()).toMatch(new RegExp(`extent ${ext.volumeId}/${ext.index}: metad answered epoch ${ext.epoch}, replicas ${ext.replicas.map((r) => r.serverId).join(',')}`));

    // Every acknowledged write reads back from every surviving replica.
    for (const r of ext.replicas) {
      const got = await (await connTo(r.address)).read(ext, 0, slots * blockBytes);
      for (const [slot, data] of acked) {
        expect(Buffer.compare(got.data.subarray(slot * blockBytes, (slot + 1) * blockBytes), data), `slot ${slot} on ${r.serverId} SEED=${SEED}`).toBe(0);
      }
    }

    // The dead server returns on its old directory and port: its stale replica is refused at the
    // old epoch, whatever set the request names; metad adds it back as a rebuilding member (a
    // former member, up again) and the primary copies it the blocks it missed.
    const back: ChunkProc = await spawnChunkd(cleanup, { id: victim.id, dataDir: victim.dataDir, listen: victim.address, metad: [metad.address], directWrites: 'members' });
    const oldRef: ExtentRef = { ...ext, epoch: 1, replicas: [...ext.replicas, { serverId: victim.id, address: back.address }] };
    const toBack = await connectData(cleanup, back.address);
    await expect(toBack.read(oldRef, 0, blockBytes)).rejects.toMatchObject({ code: ErrorCode.StaleEpoch });
    await waitFor(async () => {
      const e = await currentExtent();
      return e.replicas.length === 3 && e.replicas.every((r) => r.rebuilding !== true) && e.replicas.some((r) => r.serverId === victim.id);
    });
    ext = await currentExtent();
    const caughtUp = await toBack.read(ext, 0, slots * blockBytes);
    for (const [slot, data] of acked) {
      expect(Buffer.compare(caughtUp.data.subarray(slot * blockBytes, (slot + 1) * blockBytes), data), `slot ${slot} on ${victim.id} after catch-up SEED=${SEED}`).toBe(0);
    }
    const copied = sample(await scrape(byId.get(ext.replicas[0]!.serverId)!.metricsAddress), 'basalt_chunk_repair_bytes_total{kind="catchup",what="copied"}') ?? 0;
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThanOrEqual(slots * blockBytes);
    // The catch-up's runs of missed blocks reached the returned member with O_DIRECT (--direct-writes members, docs/data-path.md).
    expect(sample(await scrape(back.metricsAddress), 'basalt_chunk_file_ops{mode="direct"}')).toBeGreaterThan(0);
    console.log(`failover: ${acked.size} slots acknowledged, ${retries} retries, epoch ${ext.epoch}`);
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}
