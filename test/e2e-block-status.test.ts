import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Cmd } from '@basalt/agent/protocol';
import { extentPath } from '@basalt/chunk';
import { KiB, MiB, Prng } from '@basalt/stdx';
import { main } from '@basalt/cli';
import { captureIo } from '@basalt/cli/testing';
import { BasaltCluster } from './lib/cluster.js';
import { waitFor } from './lib/process.js';
import { clusterScope } from './lib/cluster-scope.js';
import { sample, scrape } from './chunk-support.js';
import { RawNbd } from './nbd-raw-client.js';

/**
 * Block status at 4 KiB granularity over real processes: the SDK's allocation and the agent's
 * NBD base:allocation report a written 4 KiB block inside an otherwise empty extent as data and
 * the blocks around it as holes; a trim frees the space on every replica (bytes on disk, measured
 * from the extent files, before and after) and the trimmed range reports as a hole; metad reports
 * the bytes the volume stores (`basalt status`) as the chunk servers counted them.
 */
const { scope, keep } = clusterScope();
const extentSizeBytes = 4 * MiB;
const SEED = 16_005;

/** Bytes the extent files of extent `index` take on disk, summed over the servers. */
function bytesOnDisk(cluster: BasaltCluster, volumeId: number, index: number): number {
  return cluster.chunks.reduce((sum, c) => sum + statSync(extentPath(c.dataDir, volumeId, index)).blocks * 512, 0);
}

describe('block status', () => {
  it('is reported per 4 KiB block by the SDK and NBD base:allocation, and a trim frees the bytes on disk', { timeout: 300_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope, { agent: true }));
    const client = cluster.client();
    const { id } = await client.createVolume('bs', { sizeBytes: 2 * extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('bs', { writer: true });
    await volume.write(8 * KiB, Buffer.alloc(4 * KiB, 5));
    await volume.write(MiB + 100, Buffer.alloc(10, 6)); // a partial block: the whole block holds data
    await volume.flush();
    expect(await volume.allocation(0, 2 * extentSizeBytes)).toEqual([
      { offset: 0, length: 8 * KiB, hole: true },
      { offset: 8 * KiB, length: 4 * KiB, hole: false },
      { offset: 12 * KiB, length: MiB - 12 * KiB, hole: true },
      { offset: MiB, length: 4 * KiB, hole: false },
      { offset: MiB + 4 * KiB, length: 2 * extentSizeBytes - MiB - 4 * KiB, hole: true },
    ]);
    // A range that starts and ends inside blocks is cut to it; the coarse answer is per extent.
    expect(await volume.allocation(10 * KiB, 4 * KiB)).toEqual([{ offset: 10 * KiB, length: 2 * KiB, hole: false }, { offset: 12 * KiB, length: 2 * KiB, hole: true }]);
    expect(await volume.allocation(0, 2 * extentSizeBytes, { blocks: false })).toEqual([
      { offset: 0, length: extentSizeBytes, hole: false }, { offset: extentSizeBytes, length: extentSizeBytes, hole: true },
    ]);

    // 2 MiB of data, then trimmed: the files give the space back on all three replicas.
    const data = Buffer.from(new Prng(SEED).fill(new Uint8Array(2 * MiB)));
    const empty = bytesOnDisk(cluster, id, 0);
    await volume.write(2 * MiB, data, { fua: true });
    const full = bytesOnDisk(cluster, id, 0);
    expect(full - empty).toBeGreaterThanOrEqual(3 * 2 * MiB);
    await volume.trim(2 * MiB, 2 * MiB);
    await volume.flush();
    const trimmed = bytesOnDisk(cluster, id, 0);
    expect(full - trimmed).toBeGreaterThanOrEqual(3 * 2 * MiB);
    expect((await volume.allocation(2 * MiB, 2 * MiB))).toEqual([{ offset: 2 * MiB, length: 2 * MiB, hole: true }]);
    await volume.close();

    // Bytes stored per volume: what the chunk servers count on disk reaches metad in heartbeats (every 10 s at most).
    const onDisk = bytesOnDisk(cluster, id, 0);
    await waitFor('metad to report the bytes the volume stores', async () => (await client.getVolume('bs')).storedBytes === onDisk, { timeoutMs: 60_000, intervalMs: 500 });
    expect(onDisk).toBeLessThan(3 * MiB);
    const io = captureIo();
    expect(await main(['status', '--json', '--metad', cluster.metaEndpoints.join(',')], io)).toBe(0);
    expect(JSON.parse(io.stdout).volumes).toEqual([{ name: 'bs', sizeBytes: 2 * extentSizeBytes, allocatedExtents: 1, replicationFactor: 3, storedBytes: onDisk }]);
    const leader = cluster.meta.member(await cluster.meta.waitForLeader());
    expect(sample(await scrape(`127.0.0.1:${leader.metricsPort}`), 'basalt_meta_stored_bytes')).toBe(onDisk);

    // NBD base:allocation: flags 3 (HOLE | ZERO) for holes, 0 for data, per block.
    const nbd = await RawNbd.connect(cluster.agentPort);
    await nbd.handshake();
    await nbd.go('bs');
    nbd.request(Cmd.BlockStatus, 0, 1n, 0n, 2 * MiB);
    const reply = await nbd.reply();
    expect(reply.error).toBe(0);
    const payload = reply.chunks[0]!.data;
    const descriptors: [number, number][] = [];
    for (let at = 4; at < payload.length; at += 8) descriptors.push([payload.readUInt32BE(at), payload.readUInt32BE(at + 4)]);
    expect(descriptors).toEqual([[8 * KiB, 3], [4 * KiB, 0], [MiB - 12 * KiB, 3], [4 * KiB, 0], [MiB - 4 * KiB, 3]]);
    nbd.destroy();
  });
});
