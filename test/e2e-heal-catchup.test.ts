import { describe, expect, it } from 'vitest';
import { KiB, limits } from '@basalt/stdx';
import { SEED } from './e2e-support.js';
import { clusterScope } from './lib/cluster-scope.js';
import type { BasaltCluster } from './lib/cluster.js';
import {
  expectEveryExtentOn, extentSizeBytes, ModelWriter, replicaSets, startHealingCluster, sumMetric, waitForFullRedundancy,
} from './e2e-heal-support.js';

/**
 * A chunk server that comes back after a short absence (kill -9 and restart, or SIGSTOP and
 * SIGCONT) under SDK writes: writes go on meanwhile, metad's leader re-adds it (its copy is still
 * on disk) and the primaries copy only the blocks written while it was away (catch-up), which is
 * a small fraction of what the server holds. The same holds for a rolling restart of every
 * server in turn (an upgrade). Every acknowledged byte reads back and the real
 * `basalt status --json` reports full redundancy on the same three servers.
 *
 * The down-out interval is an hour: the server is never out, so nothing is rebuilt elsewhere.
 */
const { scope, keep } = clusterScope();
const extents = 12;
const sizeBytes = extents * extentSizeBytes;
let cluster: BasaltCluster;

async function copiedBytes(): Promise<number> {
  return sumMetric(cluster, cluster.chunks.map((c) => c.id), 'basalt_chunk_repair_bytes_total', { what: 'copied' });
}

describe('a chunk server back after a short absence catches up', () => {
  it('kill -9 under writes, restart: only what it missed is copied', { timeout: 240_000 }, async () => {
    cluster = keep(await startHealingCluster(scope, { downOut: '1h' }));
    const client = cluster.client();
    await client.createVolume('kill', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('kill', { writer: true });
    const writer = new ModelWriter(volume, sizeBytes, { depth: 2, pauseMs: 100, maxBytes: 32 * KiB });
    await writer.fill();
    const all = cluster.chunks.map((c) => c.id).sort();
    writer.start();
    await writer.progress(20, 'before the kill');

    const victim = cluster.chunk(1);
    const sentBeforeKill = writer.sent.length;
    await victim.kill();
    await cluster.waitForServers('down', { ids: [victim.id] });
    await writer.progress(40, 'while the server is down');
    const copiedBefore = await copiedBytes();
    const sinceMs = Date.now();
    await victim.start();
    await cluster.waitForServers('up', { ids: [victim.id], sinceMs });
    await writer.progress(20, 'after the restart');
    await writer.stop();

    await waitForFullRedundancy(cluster, 'after the restart');
    expectEveryExtentOn(await replicaSets(client, 'kill', extents), 3, all);
    const copied = (await copiedBytes()) - copiedBefore;
    const catchup = await sumMetric(cluster, all, 'basalt_chunk_repair_bytes_total', { kind: 'catchup', what: 'copied' });
    const rebuilt = await sumMetric(cluster, all, 'basalt_chunk_repair_bytes_total', { kind: 'rebuild', what: 'copied' });
    // The victim held the whole volume: the catch-up copied a small part of it, nothing was rebuilt.
    expect(copied).toBeGreaterThan(0);
    expect(catchup).toBe(copied + copiedBefore);
    expect(rebuilt).toBe(0);
    // At most the blocks written from the kill on (writes in flight at the kill included).
    const touched = writer.touchedBytes(sentBeforeKill, limits.checksumBlockBytes);
    expect(copied).toBeLessThanOrEqual(touched);
    expect(touched).toBeLessThan(sizeBytes / 4);
    await volume.close();
    await writer.expectReadsBack(client, 'kill', 'after the catch-up');
  });

  it('SIGSTOP under writes: writes go on; after SIGCONT it catches up', { timeout: 240_000 }, async () => {
    const client = cluster.client();
    await client.createVolume('stop', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('stop', { writer: true });
    const writer = new ModelWriter(volume, sizeBytes, { seed: SEED + 7 });
    await writer.fill();
    writer.start();
    await writer.progress(20, 'before the stop');
    const victim = cluster.chunk(0);
    await victim.signal('SIGSTOP');
    try {
      await cluster.waitForServers('down', { ids: [victim.id] });
      await writer.progress(100, 'while the server is stopped');
    } finally {
      await victim.signal('SIGCONT');
    }
    await cluster.waitForServers('up', { ids: [victim.id], sinceMs: Date.now() });
    await writer.progress(50, 'after SIGCONT');
    await writer.stop();
    await waitForFullRedundancy(cluster, 'after SIGCONT');
    expectEveryExtentOn(await replicaSets(client, 'stop', extents), 3, cluster.chunks.map((c) => c.id));
    await volume.close();
    await writer.expectReadsBack(client, 'stop', 'after the stopped server caught up');
  });

  it('a rolling restart of every server under writes ends at full redundancy, copying a small fraction of what is stored', { timeout: 300_000 }, async () => {
    const client = cluster.client();
    await client.createVolume('roll', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('roll', { writer: true });
    const writer = new ModelWriter(volume, sizeBytes, { seed: SEED + 11, depth: 2, pauseMs: 50, maxBytes: 32 * KiB });
    await writer.fill();
    const all = cluster.chunks.map((c) => c.id).sort();
    await waitForFullRedundancy(cluster, 'before the rolling restart');
    writer.start();
    let copied = 0;
    for (const node of cluster.chunks) {
      // As an upgrade does it: a clean stop, writes meanwhile, a start, full redundancy before the
      // next. The copies to it are counted on the others (its own counters start again at 0).
      const others = all.filter((id) => id !== node.id);
      const before = await sumMetric(cluster, others, 'basalt_chunk_repair_bytes_total', { what: 'copied' });
      await node.stop();
      await writer.progress(20, `while ${node.id} restarts`);
      const sinceMs = Date.now();
      await node.start();
      await cluster.waitForServers('up', { ids: [node.id], sinceMs });
      await waitForFullRedundancy(cluster, `after ${node.id} restarted`);
      copied += (await sumMetric(cluster, others, 'basalt_chunk_repair_bytes_total', { what: 'copied' })) - before;
    }
    await writer.stop();
    await waitForFullRedundancy(cluster, 'after the rolling restart');
    expectEveryExtentOn(await replicaSets(client, 'roll', extents), 3, all);
    const stored = 3 * sizeBytes;
    console.log(`rolling restart: ${copied} bytes copied for ${stored} bytes stored (${((100 * copied) / stored).toFixed(2)} %)`);
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThan(stored / 10);
    await volume.close();
    await writer.expectReadsBack(client, 'roll', 'after the rolling restart');
  });
});
