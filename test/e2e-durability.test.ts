import { describe, expect, it } from 'vitest';
import { MiB, Prng } from '@basalt/stdx';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { expectVolumeEquals, RandomWrites, SEED } from './e2e-support.js';

/**
 * The heart of issue 4 through real processes: 256 MiB of random data at random offsets and sizes
 * through the SDK onto a 3-replica volume, read back against a byte model, then read back again
 * after every process (3 metad, 3 chunkd) was stopped and started.
 */
const { scope, keep } = clusterScope();

describe('a 3-replica volume', () => {
  it('reads back 256 MiB of random writes, before and after every process restarts', { timeout: 900_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope));
    const sizeBytes = 384 * MiB;
    const client = cluster.client();
    await client.createVolume('durable', { sizeBytes, extentSizeBytes: 16 * MiB, replicationFactor: 3 });
    const volume = await client.openVolume('durable', { writer: true });
    expect(volume.size).toBe(sizeBytes);
    const model = Buffer.alloc(sizeBytes);
    const writes = new RandomWrites(new Prng(SEED), sizeBytes, 2 * MiB);
    let written = 0;
    const total = 256 * MiB;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (written < total) {
        const w = writes.next();
        written += w.data.length;
        await volume.write(w.offset, w.data).catch((err: unknown) => {
          throw new Error(`SEED=${SEED}: write of ${w.data.length} bytes at ${w.offset}: ${String(err)}`);
        });
        w.data.copy(model, w.offset);
        writes.done(w);
      }
    }));
    await volume.flush();
    await expectVolumeEquals(volume, model, 'after writing');
    // Every extent was written, and each has three replicas in three zones.
    const extents = await client.extentPlacements('durable');
    expect(extents.length).toBe(sizeBytes / (16 * MiB));
    const zoneOf = new Map(cluster.chunks.map((c) => [c.id, c.zone]));
    for (const e of extents) expect(new Set(e.replicas.map((r) => zoneOf.get(r.serverId))).size, `extent ${e.index}`).toBe(3);
    await volume.close();

    await cluster.restartAll();
    const reader = await cluster.client().openVolume('durable');
    await expectVolumeEquals(reader, model, 'after restarting every process');
    await reader.close();
  });
});
