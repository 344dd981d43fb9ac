import { openSync, readSync, writeSync, closeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MiB, Prng } from '@basalt/stdx';
import { extentPath } from '@basalt/chunk';
import type { VolumeEvent } from '@basalt/client';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { SEED } from './e2e-support.js';

/**
 * A byte flipped on disk in an extent file (behind the chunk server's back) is caught by the
 * CRC32C checks and the read is served from a good replica, with the bad one reported; with two
 * of three replicas damaged the third still serves.
 */
const { scope, keep } = clusterScope();

function flipByte(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    expect(readSync(fd, b, 0, 1, offset)).toBe(1);
    b[0] = b[0]! ^ 0x5a;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

describe('a flipped byte in an extent file', () => {
  it('is detected on read and the read is served from a good replica', { timeout: 600_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope));
    const writer = cluster.client();
    await writer.createVolume('flip', { sizeBytes: 8 * MiB, extentSizeBytes: 4 * MiB, replicationFactor: 3 });
    const volume = await writer.openVolume('flip', { writer: true });
    const data = Buffer.from(new Prng(SEED).fill(new Uint8Array(8 * MiB)));
    await volume.write(0, data, { fua: true });
    await volume.close();
    const [first] = await writer.extentPlacements('flip');
    const replicaIds = first!.replicas.map((r) => r.serverId);

    const events: VolumeEvent[] = [];
    const reader = await cluster.client({ onEvent: (e) => events.push(e) }).openVolume('flip');
    const at = 123_457;
    flipByte(extentPath(cluster.chunkById(replicaIds[0]!).dataDir, volume.id, 0), at);
    expect((await reader.read(0, 8 * MiB)).equals(data)).toBe(true);
    expect(events).toContainEqual({ kind: 'checksum_error', volume: 'flip', index: 0, serverId: replicaIds[0] });

    // Damage a second replica: the third still has good bytes.
    flipByte(extentPath(cluster.chunkById(replicaIds[1]!).dataDir, volume.id, 0), at + 4096);
    events.length = 0;
    expect((await reader.read(at - 10, 8192)).equals(data.subarray(at - 10, at + 8182))).toBe(true);
    expect(events.map((e) => e.kind === 'checksum_error' && e.serverId)).toEqual([replicaIds[0], replicaIds[1]]);
    await reader.close();
  });
});
