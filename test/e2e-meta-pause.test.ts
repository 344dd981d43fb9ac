import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, Prng } from '@basalt/stdx';
import type { BasaltClient } from '@basalt/client';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { waitFor } from './lib/process.js';
import { sample, scrape } from './chunk-support.js';
import { SEED } from './e2e-support.js';

/**
 * Transient metadata trouble on a healthy cluster (a quorum of metad, every chunk server alive)
 * must not fail I/O. It once made the NBD agent answer EIO to the first write of a never-written
 * extent, on a loaded machine:
 * - a metad leader that stalls longer than one attempt (limits.metaAttemptTimeoutMsDefault; here
 *   SIGSTOP, under load a blocked event loop or fsync): AllocateExtent got BASALT_TIMEOUT and, as
 *   a mutation, was not retried. It is safe to repeat (meta-service.ts retrySafeMethods), as are
 *   DropReplica and ReleaseLease, so MetaClient now retries them within the call's deadline;
 * - a chunk server marked down for a late heartbeat (after such a stall every server was, while
 *   one heartbeat attempt lasted 5 s; now 1.5 s, limits.chunkHeartbeatAttemptTimeoutMs):
 *   AllocateExtent got BASALT_NOT_ENOUGH_SERVERS. The SDK now asks again until the server is
 *   back, for the whole set (limits.clientAllocateFullWaitMs; only a longer shortage gets a
 *   degraded placement, test/e2e-node-loss.test.ts).
 */
const { scope, keep } = clusterScope();

const extentSizeBytes = 4 * MiB;
const prng = new Prng(SEED);
let cluster: BasaltCluster;
let client: BasaltClient;

describe('transient metadata trouble during first writes', () => {
  beforeAll(async () => {
    cluster = keep(await BasaltCluster.start(scope));
    client = cluster.client();
  }, 240_000);

  it('a first write (extent allocation) and the lease release on close succeed while the metad leader is stopped', { timeout: 300_000 }, async () => {
    await client.createVolume('paused', { sizeBytes: 8 * extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('paused', { writer: true });
    const first = randomMiB();
    await volume.write(0, first);

    // Extent 4 was never written: its first write allocates it through the stopped leader.
    const second = randomMiB();
    await whileLeaderStopped(() => volume.write(4 * extentSizeBytes, second));
    expect((await volume.read(4 * extentSizeBytes, second.length)).equals(second), 'extent 4 reads back what was written').toBe(true);
    expect((await volume.read(0, first.length)).equals(first), 'extent 0 reads back what was written').toBe(true);
    const extents = await client.extentPlacements('paused');
    expect(extents.map((e) => e.index)).toEqual([0, 4]);

    // close() flushes (chunk servers only) and releases the lease through metad, again with the leader stopped.
    await whileLeaderStopped(() => volume.close());
    const after = await client.getVolume('paused');
    expect(after.leaseHolder, 'the writer lease was released').toBe('');
  });

  it('a first write waits for a chunk server that metad marked down for a missed heartbeat', { timeout: 300_000 }, async () => {
    // Every alive server is needed: 3 replicas on 3 servers.
    await client.createVolume('marked-down', { sizeBytes: 8 * extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('marked-down', { writer: true });
    // After the leader stalls above metad may still count servers down: start from all up.
    await cluster.waitForServers('up');
    const victim = cluster.chunk(2);
    await victim.signal('SIGSTOP');
    let write: Promise<void> | undefined;
    try {
      await cluster.waitForServers('down', { ids: [victim.id] });
      const data = randomMiB();
      const leader = cluster.meta.member(await cluster.meta.waitForLeader());
      const refusedBefore = await refusedAllocations(leader.metricsPort);
      write = volume.write(2 * extentSizeBytes, data);
      // The server comes back only once metad has refused this allocation at least once.
      await waitFor('metad to refuse an allocation for lack of servers', async () => (await refusedAllocations(leader.metricsPort)) > refusedBefore, { timeoutMs: 60_000 });
      await victim.signal('SIGCONT');
      await write;
      expect((await volume.read(2 * extentSizeBytes, data.length)).equals(data), 'extent 2 reads back what was written').toBe(true);
      const extents = (await client.extentPlacements('marked-down')).filter((e) => e.index === 2);
      expect(extents[0]?.replicas.map((r) => r.serverId).sort()).toEqual(cluster.chunks.map((c) => c.id).sort());
    } finally {
      await victim.signal('SIGCONT');
      await write?.catch(() => undefined);
    }
    await volume.close();
  });
});

function randomMiB(): Buffer {
  return Buffer.from(prng.fill(new Uint8Array(1 * MiB)));
}

/** AllocateExtent calls the metad member answered with BASALT_NOT_ENOUGH_SERVERS. */
async function refusedAllocations(metricsPort: number): Promise<number> {
  const page = await scrape(`127.0.0.1:${metricsPort}`);
  return sample(page, 'basalt_meta_rpc_total{method="allocateExtent",code="BASALT_NOT_ENOUGH_SERVERS"}') ?? 0;
}

/**
 * Stops the current metad leader (SIGSTOP), runs `op`, and continues the leader afterwards: the
 * pause lasts as long as `op`, which (without retries) fails after one metadata attempt.
 */
async function whileLeaderStopped<T>(op: () => Promise<T>): Promise<T> {
  const leader = await cluster.meta.waitForLeader();
  await cluster.meta.signal(leader, 'SIGSTOP');
  try {
    return await op();
  } finally {
    await cluster.meta.signal(leader, 'SIGCONT');
  }
}
