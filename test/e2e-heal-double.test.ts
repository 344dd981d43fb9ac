import { describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { clusterScope } from './lib/cluster-scope.js';
import { waitFor } from './lib/process.js';
import {
  expectEveryExtentOn, extentSizeBytes, ModelWriter, replicaSets, serverVerb, startHealingCluster, status, waitForFullRedundancy,
} from './e2e-heal-support.js';

/**
 * A second failure during a repair: of four chunk servers one is lost for good (kill -9, then
 * `basalt server out`), and while its replicas are being rebuilt (paced by a small
 * --repair-bandwidth so the copies take seconds) a second one is killed too, under SDK writes.
 * The second returns: no acknowledged byte is lost, and the cluster reaches full redundancy on
 * the three servers left.
 */
const { scope, keep } = clusterScope();
const extents = 16;
const sizeBytes = extents * extentSizeBytes;

describe('a second server killed during a repair', () => {
  it('loses no acknowledged byte; full redundancy once it is back', { timeout: 300_000 }, async () => {
    const cluster = keep(await startHealingCluster(scope, { chunkServers: 4, downOut: '1h', chunkArgs: ['--repair-bandwidth', String(4 * MiB)] }));
    const client = cluster.client();
    await client.createVolume('double', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('double', { writer: true });
    const writer = new ModelWriter(volume, sizeBytes);
    await writer.fill();
    writer.start();
    await writer.progress(20, 'before the first loss');

    const [first, second] = [cluster.chunk(3), cluster.chunk(0)];
    await first.kill();
    await cluster.waitForServers('down', { ids: [first.id] });
    await serverVerb(cluster, 'out', first.id);
    await waitFor('a copy under way', async () => {
      const s = await status(cluster);
      return (s.repair?.rebuildingReplicas ?? 0) > 0 && s.chunkServers.some((c) => c.repair.bytesCopied > 0);
    }, { timeoutMs: 60_000, intervalMs: 200 });
    expect((await status(cluster)).repair?.degradedExtents).toBeGreaterThan(0);
    await second.kill();
    await writer.progress(50, 'with two servers gone');
    const sinceMs = Date.now();
    await second.start();
    await cluster.waitForServers('up', { ids: [second.id], sinceMs });
    await writer.progress(20, 'after the second server returned');
    await writer.stop();

    await waitForFullRedundancy(cluster, 'after the second server returned', 180_000);
    expectEveryExtentOn(await replicaSets(client, 'double', extents), 3, cluster.chunks.filter((c) => c !== first).map((c) => c.id));
    await volume.close();
    await writer.expectReadsBack(client, 'double', 'after two failures');
  });
});
