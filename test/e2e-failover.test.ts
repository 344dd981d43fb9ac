import { describe, expect, it } from 'vitest';
import { ErrorCode, isBasaltError, KiB, MiB, Prng } from '@basalt/stdx';
import { DataConnection, MetaClient, type ExtentRef } from '@basalt/wire';
import type { Volume } from '@basalt/client';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { SEED } from './e2e-support.js';

/**
 * kill -9 of a chunk server in the middle of a stream of writes: the stream goes on (the SDK drops
 * the dead replica through metad and carries on with the survivors), no acknowledged write is lost,
 * and when the server comes back its replicas of the extents that moved on are fenced and refuse
 * requests that carry the old epoch.
 *
 * Model: the volume is cut into 64 KiB blocks and every write covers one whole block, one write per
 * block at a time. A block must read back as its last acknowledged contents, or as the contents of
 * a write that failed after that (an unacknowledged write may or may not have landed).
 */
const { scope, keep } = clusterScope();

const blockBytes = 64 * KiB;
const sizeBytes = 64 * MiB;
const extentSizeBytes = 4 * MiB;

interface Block {
  acked: Buffer | undefined;
  /** Writes that failed after the last acknowledged one. */
  maybe: Buffer[];
  busy: boolean;
}

class BlockModel {
  readonly blocks: Block[] = Array.from({ length: sizeBytes / blockBytes }, () => ({ acked: undefined, maybe: [], busy: false }));
  acked = 0;
  failed: string[] = [];

  constructor(private readonly prng: Prng) {}

  /** Writes `count` random blocks with `depth` in flight. */
  async stream(volume: Volume, count: number, depth: number): Promise<void> {
    let started = 0;
    await Promise.all(Array.from({ length: depth }, async () => {
      while (started < count) {
        started++;
        let i = this.prng.int(0, this.blocks.length - 1);
        while (this.blocks[i]!.busy) i = (i + 1) % this.blocks.length;
        const block = this.blocks[i]!;
        const data = Buffer.from(this.prng.fill(new Uint8Array(blockBytes)));
        block.busy = true;
        try {
          await volume.write(i * blockBytes, data);
          block.acked = data;
          block.maybe = [];
          this.acked++;
        } catch (err) {
          block.maybe.push(data);
          this.failed.push(isBasaltError(err) ? `${err.code}: ${err.message}` : String(err));
        } finally {
          block.busy = false;
        }
      }
    }));
  }

  async check(volume: Volume, what: string): Promise<void> {
    for (let i = 0; i < this.blocks.length; i++) {
      const block = this.blocks[i]!;
      const got = await volume.read(i * blockBytes, blockBytes);
      const allowed = [block.acked ?? Buffer.alloc(blockBytes), ...block.maybe];
      expect(allowed.some((a) => a.equals(got)), `${what}: block ${i} holds neither its acknowledged nor a later unacknowledged write (SEED=${SEED})`).toBe(true);
    }
  }
}

describe('kill -9 of a chunk server during writes', () => {
  it('loses no acknowledged write and fences the returning server', { timeout: 900_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope));
    const client = cluster.client({ requestTimeoutMs: 10_000 });
    await client.createVolume('failover', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('failover', { writer: true });
    const model = new BlockModel(new Prng(SEED));
    await model.stream(volume, 200, 8);
    expect(model.failed).toEqual([]);

    const victim = cluster.chunk(1);
    const before = await client.extentPlacements('failover');
    const onVictim = before.filter((e) => e.replicas.some((r) => r.serverId === victim.id));
    expect(onVictim.length).toBe(sizeBytes / extentSizeBytes);

    // The kill lands while writes are in flight.
    const during = model.stream(volume, 400, 8);
    await new Promise((r) => setTimeout(r, 500));
    await victim.kill();
    await during;
    // The SDK hides the failover: no write failed, though one server died under them.
    expect(model.failed).toEqual([]);
    const ackedAfter = model.acked;
    await model.stream(volume, 200, 8);
    expect(model.acked).toBe(ackedAfter + 200);
    await model.check(volume, 'after the kill');

    // Every extent that was written after the kill moved on to a new epoch without the victim.
    const after = new Map((await client.extentPlacements('failover')).map((e) => [e.index, e]));
    const movedOn = onVictim.filter((e) => !after.get(Number(e.index))!.replicas.some((r) => r.serverId === victim.id));
    expect(movedOn.length).toBeGreaterThan(0);
    for (const e of movedOn) expect(Number(after.get(Number(e.index))!.epoch)).toBeGreaterThan(Number(e.epoch));
    // Those extents run on two replicas: metad reports them degraded (what `basalt status` shows).
    const degraded = await client.degradedExtents();
    const degradedIndexes = new Set(degraded.extents.filter((d) => d.volume === 'failover').map((d) => Number(d.index)));
    for (const e of movedOn) expect(degradedIndexes.has(Number(e.index)), `extent ${e.index} is degraded`).toBe(true);
    expect(Number(degraded.total)).toBeGreaterThanOrEqual(movedOn.length);

    // The victim returns with its old epochs: those replicas are fenced and refuse old-epoch requests
    // (sent with a valid capability, so what refuses them is the epoch).
    const sinceMs = Date.now();
    await victim.start();
    await cluster.waitForServers('up', { ids: [victim.id], sinceMs });
    const meta = new MetaClient({ endpoints: cluster.metaEndpoints });
    const capability = Buffer.from((await meta.call('getExtentMap', { volume: 'failover', fromIndex: 0, count: 1, writer: true })).capability);
    meta.close();
    const conn = await DataConnection.connect(victim.address, { requestTimeoutMs: 30_000 });
    try {
      for (const e of movedOn) {
        const ref: ExtentRef = {
          volumeId: volume.id, index: Number(e.index), extentSizeBytes, epoch: Number(e.epoch), generation: volume.generation,
          replicas: e.replicas.map((r) => ({ serverId: r.serverId, address: r.address })), auth: [capability],
        };
        await expect(conn.read(ref, 0, 4096), `extent ${e.index}`).rejects.toMatchObject({ code: ErrorCode.StaleEpoch });
        await expect(conn.write(ref, 0, Buffer.alloc(4096, 7)), `extent ${e.index}`).rejects.toMatchObject({ code: ErrorCode.StaleEpoch });
      }
    } finally {
      conn.close();
    }
    await model.check(volume, 'after the victim came back');
    await volume.close();
    const reader = await cluster.client().openVolume('failover');
    await model.check(reader, 'through a new client');
    await reader.close();
  });
});
