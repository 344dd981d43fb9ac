import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import type { BasaltCluster } from './lib/cluster.js';
import { ProcessScope, waitFor } from './lib/process.js';
import { DataFolders, isRoot } from './lib/tmpfs.js';
import {
  expectEveryExtentOn, extentSizeBytes, ModelWriter, replicaSets, serverVerb, startHealingCluster, status, sumMetric, waitForFullRedundancy,
} from './e2e-heal-support.js';

/**
 * A repair target whose disk is full: chunk server c4 runs on a 16 MiB tmpfs that the test fills
 * behind its back (metad still believes the space is free). When c3 is lost for good, c4 is the
 * only possible target: each copy to it fails cleanly with BASALT_NO_SPACE, the primary reports
 * it (no_space) and metad stops placing copies there once its own bookkeeping says the extents
 * do not fit, leaving the extents degraded (reported by `basalt status --json`), never losing an
 * acknowledged byte. Once c5 takes replicas again (undrain), metad re-plans onto it and reaches
 * full redundancy. Needs root for mount(8).
 */
const scope = new ProcessScope();
let cluster: BasaltCluster | undefined;
const folders = new DataFolders('basalt-heal-full-');
afterAll(async () => {
  cluster?.close();
  await scope.cleanup();
  folders.cleanup();
});
const extents = 8;
const sizeBytes = extents * extentSizeBytes;

describe('a repair target with a full disk', () => {
  // A real ENOSPC needs a small tmpfs, and mount(8) needs root: unprivileged runs skip this.
  it.skipIf(!isRoot)('fails its copies cleanly; metad re-plans onto another server; no acknowledged byte lost', { timeout: 300_000 }, async () => {
    const small = join(folders.root, 'c4');
    cluster = await startHealingCluster(scope, {
      chunkServers: 5, downOut: '1h',
      // c4 alone on a small tmpfs.
      chunkDataDir: (i) => folders.folder(`c${i + 1}`, i === 3 ? 16 : undefined),
    });
    const [c3, c4, c5] = [cluster.chunk(2), cluster.chunk(3), cluster.chunk(4)];
    // The volume goes on c1..c3 only.
    await serverVerb(cluster, 'drain', c4.id);
    await serverVerb(cluster, 'drain', c5.id);
    const client = cluster.client();
    await client.createVolume('full', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('full', { writer: true });
    const writer = new ModelWriter(volume, sizeBytes);
    await writer.fill();
    expectEveryExtentOn(await replicaSets(client, 'full', extents), 3, ['c1', 'c2', 'c3']);

    // c4 takes replicas again, but its disk is full behind its back.
    await serverVerb(cluster, 'undrain', c4.id);
    writeFileSync(join(small, 'filler'), Buffer.alloc(15 * MiB, 1));
    writer.start();
    await c3.kill();
    await cluster.waitForServers('down', { ids: [c3.id] });
    await serverVerb(cluster, 'out', c3.id);

    const primaries = ['c1', 'c2'];
    const noSpace = /copy of extent \S+ to c4 at epoch \d+: the member failed \(no space left.*\(no_space\)/;
    await waitFor('a copy to c4 to fail with no space', () => primaries.some((id) => noSpace.test(cluster!.chunkById(id).process!.log())), { timeoutMs: 60_000, intervalMs: 250 });
    expect(await sumMetric(cluster, primaries, 'basalt_chunk_repairs_total', { result: 'failed' })).toBeGreaterThan(0);
    // metad stops choosing c4: the extents stay degraded, with nothing planned, and say so.
    const stalled = await waitFor('metad to stop planning copies to c4', async () => {
      const s = await status(cluster!);
      const sets = await replicaSets(client, 'full', extents);
      return s.repair!.rebuildingReplicas === 0 && sets.every((set) => set.rebuilding.length === 0) ? s : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    expect(stalled.repair!.degradedExtents).toBeGreaterThan(0);
    await writer.progress(20, 'with the extents degraded');

    await serverVerb(cluster, 'undrain', c5.id);
    await writer.progress(20, 'during the re-planned copies');
    await writer.stop();
    await waitForFullRedundancy(cluster, 'after c5 took the copies');
    const sets = await replicaSets(client, 'full', extents);
    expectEveryExtentOn(sets, 3, ['c1', 'c2', c5.id]);
    await volume.close();
    await writer.expectReadsBack(client, 'full', 'after the full target');
    expect(c4.pid).toBeDefined();
  });
});
