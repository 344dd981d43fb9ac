import { describe, expect, it } from 'vitest';
import { ErrorCode, MiB } from '@basalt/stdx';
import { clusterScope } from './lib/cluster-scope.js';
import type { BasaltCluster } from './lib/cluster.js';
import { runCli, waitFor } from './lib/process.js';
import {
  expectEveryExtentOn, extentSizeBytes, ModelWriter, replicaSets, serverVerb, startHealingCluster, status, sumMetric, waitForFullRedundancy,
} from './e2e-heal-support.js';

/**
 * Four chunk servers, volumes of factor 3, real processes. A server lost for good (kill -9, then
 * `basalt server out`) has its replicas rebuilt on the three left, under SDK writes; a server
 * drained with `basalt server drain` ends up holding nothing and can then be removed, while
 * removal of a server that holds the only good copy of an extent is refused. Every acknowledged
 * byte reads back; the real `basalt status --json` reports full redundancy.
 */
const { scope, keep } = clusterScope();
const extents = 12;
const sizeBytes = extents * extentSizeBytes;
let cluster: BasaltCluster;

describe('a 4-server cluster heals around lost and drained servers', () => {
  it('a server lost for good: its replicas are rebuilt on the other three', { timeout: 240_000 }, async () => {
    cluster = keep(await startHealingCluster(scope, { chunkServers: 4, downOut: '1h' }));
    const client = cluster.client();
    await client.createVolume('lost', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('lost', { writer: true });
    const writer = new ModelWriter(volume, sizeBytes);
    await writer.fill();
    const victim = cluster.chunk(3);
    const survivors = cluster.chunks.filter((c) => c !== victim).map((c) => c.id);
    const held = (await replicaSets(client, 'lost', extents)).filter((s) => s.active.includes(victim.id)).length;
    expect(held).toBeGreaterThan(0);

    writer.start();
    await writer.progress(20, 'before the loss');
    await victim.kill();
    await cluster.waitForServers('down', { ids: [victim.id] });
    // Down is not out (the interval is an hour): the server's extents wait for it.
    await waitFor(`the ${held} extents of ${victim.id} to wait for it`, async () => (await status(cluster)).repair?.waitingExtents === held, { timeoutMs: 30_000, intervalMs: 500 });
    expect((await replicaSets(client, 'lost', extents)).filter((s) => s.rebuilding.length > 0)).toEqual([]);
    expect(await serverVerb(cluster, 'out', victim.id)).toMatchObject({ state: 'out' });
    await writer.progress(50, 'during the rebuild');
    await writer.stop();

    await waitForFullRedundancy(cluster, 'after the server went out');
    expectEveryExtentOn(await replicaSets(client, 'lost', extents), 3, survivors);
    // Each of the victim's extents was copied whole (every block was written by the fill).
    const rebuilt = await sumMetric(cluster, survivors, 'basalt_chunk_repair_bytes_total', { kind: 'rebuild', what: 'copied' });
    expect(rebuilt).toBeGreaterThanOrEqual(held * extentSizeBytes);
    await volume.close();
    await writer.expectReadsBack(client, 'lost', 'after the rebuild');
  });

  it('a drained server ends up holding nothing and is removed; removing the holder of an only copy is refused', { timeout: 240_000 }, async () => {
    const client = cluster.client();
    const lost = cluster.chunk(3);
    const sinceMs = Date.now();
    await lost.start();
    await cluster.waitForServers('up', { ids: [lost.id], sinceMs });

    // A factor-1 volume: its one server holds the only copy and may not be removed.
    await client.createVolume('single', { sizeBytes: extentSizeBytes, extentSizeBytes, replicationFactor: 1 });
    const single = await client.openVolume('single', { writer: true });
    await single.write(0, Buffer.alloc(MiB, 0x5a));
    const [only] = (await replicaSets(client, 'single', 1))[0]!.active;
    const refused = await runCli(['server', 'remove', only!, '--metad', cluster.metaEndpoints.join(',')]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(ErrorCode.ServerBusy);

    const target = cluster.chunks.find((c) => c.id !== only)!;
    const volume = await client.openVolume('lost', { writer: true });
    const writer = new ModelWriter(volume, sizeBytes, { seed: 11 });
    await writer.fill();
    writer.start();
    const drained = await serverVerb(cluster, 'drain', target.id);
    expect(drained.state).toBe('draining');
    await waitFor(`${target.id} to hold nothing`, async () => (await status(cluster)).chunkServers.find((s) => s.id === target.id)?.extentCount === 0, { timeoutMs: 120_000, intervalMs: 500 });
    await writer.stop();
    const left = cluster.chunks.filter((c) => c !== target).map((c) => c.id);
    expectEveryExtentOn(await replicaSets(client, 'lost', extents), 3, left);

    expect(await serverVerb(cluster, 'remove', target.id)).toMatchObject({ extentCount: 0 });
    const after = await waitForFullRedundancy(cluster, 'after the drain and removal');
    expect(after.chunkServers.map((s) => s.id)).not.toContain(target.id);
    await volume.close();
    await writer.expectReadsBack(client, 'lost', 'after the drain');
    expect((await single.read(0, MiB)).equals(Buffer.alloc(MiB, 0x5a))).toBe(true);
    await single.close();
  });
});
