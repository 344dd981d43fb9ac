import { describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import type { VolumeEvent } from '@basalt/client';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { requireCommands } from './lib/process.js';
import { sample, scrape } from './chunk-support.js';
import { runOk } from './nbd-support.js';

/**
 * The smallest cluster a 3-replica volume fits on (3 chunk servers) loses one for good: a disk
 * behind the NBD agent must keep taking writes, also to never-written extents. Before first
 * writes could be placed degraded they waited 30 s for a third server (metad refused with
 * BASALT_NOT_ENOUGH_SERVERS) and then failed: EIO for the guest, on the cluster `basalt up` starts.
 *
 * Now a first write waits limits.clientAllocateFullWaitMs for the whole set (a late heartbeat is
 * back within it), then takes a majority of the factor on every server up; later first writes of
 * the same open volume do not wait again. A server that returns gets new extents again.
 */
const { scope, keep } = clusterScope();
const extentSizeBytes = 4 * MiB;

describe('a 3-server cluster that lost a server', () => {
  it('places first writes on the two left, through NBD and the SDK, and on all three once it is back', { timeout: 300_000 }, async () => {
    requireCommands('qemu-io');
    const cluster = keep(await BasaltCluster.start(scope, { agent: true }));
    const events: VolumeEvent[] = [];
    const client = cluster.client({ onEvent: (e) => events.push(e) });
    await client.createVolume('lost', { sizeBytes: 16 * extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    const uri = `nbd://${cluster.agentAddress}/lost`;
    const replicasOf = async (index: number): Promise<string[]> => {
      const extent = (await client.extentPlacements('lost')).find((e) => e.index === index);
      return (extent?.replicas ?? []).map((r) => r.serverId).sort();
    };
    const all = cluster.chunks.map((c) => c.id).sort();

    await runOk('qemu-io', ['-f', 'raw', uri, '-c', 'write -P 0x11 0 1M']);
    expect(await replicasOf(0)).toEqual(all);

    const victim = cluster.chunk(2);
    await victim.kill();
    await cluster.waitForServers('down', { ids: [victim.id] });
    const survivors = all.filter((id) => id !== victim.id);

    // Through the agent: two never-written extents in one connection, then every byte read back.
    const { stdout: out } = await runOk('qemu-io', ['-f', 'raw', uri,
      '-c', `write -P 0x22 ${1 * extentSizeBytes} 1M`, '-c', `write -P 0x33 ${2 * extentSizeBytes + 4096} 64k`, '-c', 'flush',
      '-c', 'read -P 0x11 0 1M', '-c', `read -P 0x22 ${1 * extentSizeBytes} 1M`, '-c', `read -P 0x33 ${2 * extentSizeBytes + 4096} 64k`]);
    expect(out).not.toMatch(/Pattern verification failed|error/i);
    expect(await replicasOf(1)).toEqual(survivors);
    expect(await replicasOf(2)).toEqual(survivors);
    const agentLog = cluster.agent!.log();
    for (const index of [1, 2]) expect(agentLog).toMatch(new RegExp(`nbd lost: extent ${index}: placed degraded on \\S+ \\(2 of 3 replicas`));
    const degraded = await client.degradedExtents();
    const degradedIndexes = degraded.extents.filter((d) => d.volume === 'lost').map((d) => Number(d.index)).sort();
    // Extent 0 lost its replica on the victim too: all three are degraded until re-replication.
    expect(degradedIndexes).toEqual([0, 1, 2]);

    // Through the SDK: the first of two first writes waits for the whole set and is refused by
    // metad meanwhile; the second asks for a degraded placement at once, so metad refuses nothing.
    const volume = await client.openVolume('lost', { writer: true });
    const leaderMetrics = async () => `127.0.0.1:${cluster.meta.member(await cluster.meta.waitForLeader()).metricsPort}`;
    const refused = async () => sample(await scrape(await leaderMetrics()), 'basalt_meta_rpc_total{method="allocateExtent",code="BASALT_NOT_ENOUGH_SERVERS"}') ?? 0;
    const refusedBefore = await refused();
    await volume.write(3 * extentSizeBytes, Buffer.alloc(MiB, 0x44));
    const refusedAfterFirst = await refused();
    expect(refusedAfterFirst).toBeGreaterThan(refusedBefore);
    await volume.write(4 * extentSizeBytes, Buffer.alloc(MiB, 0x55));
    expect(await refused()).toBe(refusedAfterFirst);
    expect(events.filter((e) => e.kind === 'allocated_degraded').map((e) => [e.index, e.replicas.slice().sort()])).toEqual([[3, survivors], [4, survivors]]);
    // What an operator's alert sees: the leader's gauges.
    const page = await scrape(await leaderMetrics());
    expect(sample(page, 'basalt_meta_chunk_servers{state="down"}')).toBe(1);
    expect(sample(page, 'basalt_meta_chunk_servers{state="up"}')).toBe(2);
    expect(sample(page, 'basalt_meta_degraded_extents')).toBe(5);
    expect(sample(page, 'basalt_meta_allocated_extents')).toBe(5);

    // The victim returns (empty of the extents placed without it): new extents get all three again.
    await victim.start();
    await cluster.waitForServers('up', { ids: [victim.id] });
    await volume.write(5 * extentSizeBytes, Buffer.alloc(MiB, 0x66));
    expect(await replicasOf(5)).toEqual(all);
    for (const [index, fill] of [[0, 0x11], [1, 0x22], [3, 0x44], [4, 0x55], [5, 0x66]] as const) {
      expect((await volume.read(index * extentSizeBytes, MiB)).equals(Buffer.alloc(MiB, fill)), `extent ${index} reads back`).toBe(true);
    }
    await volume.close();
  });
});
