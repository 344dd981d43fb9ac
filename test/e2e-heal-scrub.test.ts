import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { extentPath } from '@basalt/chunk';
import { limits, Prng } from '@basalt/stdx';
import { clusterScope } from './lib/cluster-scope.js';
import { waitFor } from './lib/process.js';
import { SEED } from './e2e-support.js';
import { extentSizeBytes, ModelWriter, replicaSets, startHealingCluster, status, sumMetric, waitForFullRedundancy } from './e2e-heal-support.js';

/**
 * Bits flipped in extent files on disk, behind the chunk servers' backs, on every server (each
 * block damaged on one copy only, so a good copy exists): the scrubber (a pass every 500 ms)
 * finds every flip and rewrites the block from a good copy. The repairs are counted in
 * basalt_chunk_scrub_blocks_total{result="repaired"} and in `basalt status --json`, none is
 * unrepairable, and every acknowledged byte reads back.
 */
const { scope, keep } = clusterScope();
const extents = 4;
const sizeBytes = extents * extentSizeBytes;
const block = limits.checksumBlockBytes;

function flipBit(path: string, offset: number, bit: number): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] = b[0]! ^ (1 << bit);
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

describe('bits flipped on disk', () => {
  it('are each found by the scrubber and repaired from a good copy', { timeout: 180_000 }, async () => {
    const cluster = keep(await startHealingCluster(scope, { downOut: '1h', chunkArgs: ['--scrub-interval-ms', '500'] }));
    const client = cluster.client();
    await client.createVolume('flip', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('flip', { writer: true });
    const writer = new ModelWriter(volume, sizeBytes);
    await writer.fill();
    await volume.flush();
    await volume.close();

    // Two flips per server, in distinct blocks of distinct extents: one damaged copy per block.
    const prng = new Prng(SEED + 5);
    const sets = await replicaSets(client, 'flip', extents);
    const ids = cluster.chunks.map((c) => c.id);
    const flips: { server: string; index: number; offset: number }[] = [];
    const blocksPerExtent = extentSizeBytes / block;
    for (const [k, id] of ids.entries()) {
      for (let j = 0; j < 2; j++) {
        const index = (k * 2 + j) % extents;
        expect(sets[index]!.active).toContain(id);
        const blockIndex = k * 2 + j + prng.int(0, Math.floor(blocksPerExtent / 8) - 1) * 8;
        flips.push({ server: id, index, offset: blockIndex * block + prng.int(0, block - 1) });
      }
    }
    const before = await sumMetric(cluster, ids, 'basalt_chunk_scrub_blocks_total', { result: 'repaired' });
    expect(before).toBe(0);
    for (const f of flips) flipBit(extentPath(cluster.chunkById(f.server).dataDir, volume.id, f.index), f.offset, prng.int(0, 7));

    await waitFor(`the scrubbers to repair ${flips.length} blocks`, async () => (await sumMetric(cluster, ids, 'basalt_chunk_scrub_blocks_total', { result: 'repaired' })) >= flips.length, { timeoutMs: 120_000, intervalMs: 250 });
    // A further pass on every server finds nothing more to repair.
    const passes = await Promise.all(ids.map((id) => sumMetric(cluster, [id], 'basalt_chunk_scrub_passes_total')));
    await waitFor('one more scrub pass on every server', async () => (await Promise.all(ids.map((id) => sumMetric(cluster, [id], 'basalt_chunk_scrub_passes_total')))).every((n, i) => n > passes[i]!), { timeoutMs: 60_000, intervalMs: 250 });
    expect(await sumMetric(cluster, ids, 'basalt_chunk_scrub_blocks_total', { result: 'repaired' })).toBe(flips.length);
    expect(await sumMetric(cluster, ids, 'basalt_chunk_scrub_blocks_total', { result: 'unrepairable' })).toBe(0);
    for (const id of ids) {
      expect(await sumMetric(cluster, [id], 'basalt_chunk_scrub_blocks_total', { result: 'repaired' }), id).toBe(flips.filter((f) => f.server === id).length);
    }

    const s = await waitFor('status to show the repairs', async () => {
      const got = await status(cluster);
      return got.chunkServers.reduce((n, c) => n + c.scrubRepairedBlocks, 0) === flips.length ? got : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    for (const c of s.chunkServers) expect(c.scrubLastPassMs).toBeGreaterThan(0);
    await waitForFullRedundancy(cluster, 'after the scrub');
    await writer.expectReadsBack(client, 'flip', 'after the scrub repaired every flip');
  });
});
