import { describe, expect, it } from 'vitest';
import { ErrorCode, MiB } from '@basalt/stdx';
import { main } from '@basalt/cli';
import { captureIo } from '@basalt/cli/testing';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { RawNbd } from './nbd-raw-client.js';

/**
 * A volume grows while it is written, over real processes (metad, three chunk servers, the NBD
 * agent): a writer that opened it before keeps writing and uses the new space without reopening;
 * an NBD connection opened before keeps its size while a new one gets the grown size; shrinking
 * is refused, and forced only over never-written space.
 */
const { scope, keep } = clusterScope();
const extentSizeBytes = 4 * MiB;
const block = (i: number): Buffer => Buffer.alloc(64 * 1024, i & 0xff);

describe('online growth', () => {
  it('grows under a running writer and for new NBD connections; shrinks only when forced over never-written space', { timeout: 300_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope, { agent: true }));
    const admin = cluster.client();
    await admin.createVolume('grow', { sizeBytes: 2 * extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    await admin.createVolume('grow-nbd', { sizeBytes: 2 * extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    const writer = await cluster.client().openVolume('grow', { writer: true });
    const before = await RawNbd.connect(cluster.agentPort);
    await before.handshake();
    expect((await before.go('grow-nbd')).size).toBe(BigInt(2 * extentSizeBytes));

    // A writer streams 64 KiB blocks through the old space while the volume grows to 4 extents.
    const oldBlocks = (2 * extentSizeBytes) / (64 * 1024);
    let written = 0;
    const streaming = (async () => {
      for (; written < oldBlocks; written++) await writer.write(written * 64 * 1024, block(written));
    })();
    const grown = await admin.resizeVolume('grow', 4 * extentSizeBytes);
    await streaming;
    expect(grown).toMatchObject({ sizeBytes: 4 * extentSizeBytes, extentCount: 4 });

    // The open writer uses the new space at once: its first access past the old end reads the size again.
    expect(writer.size).toBe(2 * extentSizeBytes);
    const tail = 4 * extentSizeBytes - 64 * 1024;
    await writer.write(tail, block(7));
    expect(writer.size).toBe(4 * extentSizeBytes);
    await expect(writer.write(4 * extentSizeBytes, block(1))).rejects.toMatchObject({ code: ErrorCode.OutOfRange });
    for (const i of [0, oldBlocks - 1]) expect((await writer.read(i * 64 * 1024, 64 * 1024)).equals(block(i)), `block ${i}`).toBe(true);
    await writer.flush();

    await writer.close();

    // NBD: the agent holds grow-nbd open for a connection made before it grew. That connection keeps
    // its size (the new space is refused); a new one, sharing the agent's open volume, gets the grown size.
    await admin.resizeVolume('grow-nbd', 4 * extentSizeBytes);
    before.request(1, 0, 1n, BigInt(tail), 4096, block(9).subarray(0, 4096));
    expect((await before.reply()).error, 'a write past the size the old connection was given').not.toBe(0);
    const after = await RawNbd.connect(cluster.agentPort);
    await after.handshake();
    expect((await after.go('grow-nbd')).size).toBe(BigInt(4 * extentSizeBytes));
    after.request(1, 0, 2n, BigInt(tail), 4096, block(9).subarray(0, 4096));
    expect((await after.reply()).error).toBe(0);
    after.request(0, 0, 3n, BigInt(tail), 4096);
    const read = await after.reply();
    expect(read.error).toBe(0);
    expect(read.data.equals(block(9).subarray(0, 4096))).toBe(true);
    before.destroy();
    after.destroy();

    // Shrinking: refused; forced, still refused while data lies past the new end; allowed over never-written extents.
    await expect(admin.resizeVolume('grow', 2 * extentSizeBytes)).rejects.toMatchObject({ code: ErrorCode.ShrinkNotAllowed });
    await expect(admin.resizeVolume('grow', 2 * extentSizeBytes, { force: true })).rejects.toMatchObject({ code: ErrorCode.ShrinkNotAllowed, details: { firstAllocatedIndex: 3 } });
    await admin.resizeVolume('grow', 8 * extentSizeBytes);
    const io = captureIo();
    expect(await main(['volume', 'resize', 'grow', '--size', `${4 * extentSizeBytes}`, '--force', '--json', '--metad', cluster.metaEndpoints.join(',')], io)).toBe(0);
    expect(JSON.parse(io.stdout)).toMatchObject({ sizeBytes: 4 * extentSizeBytes, allocatedExtents: 3 });
    const reader = await admin.openVolume('grow');
    expect((await reader.read(tail, 64 * 1024)).equals(block(7))).toBe(true);
    await reader.close();
  });
});
