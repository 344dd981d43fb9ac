import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { waitFor } from './lib/process.js';
import { sample, scrape } from './chunk-support.js';

/**
 * Deleting a volume gives its disk space back: every chunk server's reclaimer finds the volume
 * gone at metad and removes its replicas (packages/chunk/src/server/reclaim.ts), while the
 * replicas of a live volume stay and read back. Before, a deleted volume's extent files stayed
 * on every server for good. The servers here look every 300 ms instead of every minute.
 */
const { scope, keep } = clusterScope();
const extentSizeBytes = 4 * MiB;

describe('a deleted volume', () => {
  it('has its replicas removed from every chunk server; a live volume keeps its own', { timeout: 240_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope, { chunkArgs: ['--reclaim-interval-ms', '300'] }));
    const client = cluster.client();
    const ids = new Map<string, number>();
    for (const name of ['gone', 'kept']) {
      ids.set(name, (await client.createVolume(name, { sizeBytes: 3 * extentSizeBytes, extentSizeBytes, replicationFactor: 3 })).id);
      const volume = await client.openVolume(name, { writer: true });
      for (let i = 0; i < 3; i++) await volume.write(i * extentSizeBytes, Buffer.alloc(MiB, name === 'gone' ? 0x0d : 0x0c));
      await volume.close();
    }
    const folder = (c: { dataDir: string }, name: string) => join(c.dataDir, 'extents', String(ids.get(name)));
    for (const c of cluster.chunks) for (const name of ['gone', 'kept']) expect(existsSync(folder(c, name)), `${c.id} holds ${name}`).toBe(true);

    await client.deleteVolume('gone');
    await waitFor('every chunk server to remove the deleted volume', () => cluster.chunks.every((c) => !existsSync(folder(c, 'gone'))), { timeoutMs: 60_000 });
    for (const c of cluster.chunks) {
      const page = await scrape(c.metricsAddress);
      expect(sample(page, 'basalt_chunk_reclaimed_replicas_total'), c.id).toBe(3);
      expect(sample(page, 'basalt_chunk_reclaimed_bytes_total'), c.id).toBeGreaterThanOrEqual(3 * MiB);
      expect(sample(page, 'basalt_chunk_extents{state="active"}'), c.id).toBe(3);
      expect(existsSync(folder(c, 'kept')), `${c.id} keeps the live volume`).toBe(true);
    }
    const kept = await client.openVolume('kept');
    for (let i = 0; i < 3; i++) expect((await kept.read(i * extentSizeBytes, MiB)).equals(Buffer.alloc(MiB, 0x0c)), `kept extent ${i}`).toBe(true);
    await kept.close();

    // A restarted server does not bring the removed replicas back.
    const restarted = cluster.chunk(1);
    await restarted.stop();
    await restarted.start();
    const page = await scrape(restarted.metricsAddress);
    expect(sample(page, 'basalt_chunk_extents{state="active"}')).toBe(3);
  });
});
