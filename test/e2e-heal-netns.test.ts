import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type BasaltClient } from '@basalt/client';
import { KiB } from '@basalt/stdx';
import { MetaClient } from '@basalt/wire';
import { ChunkNode } from './lib/cluster.js';
import { NetnsMetaCluster } from './lib/netns-meta-cluster.js';
import { ProcessScope, waitFor } from './lib/process.js';
import { SEED } from './e2e-support.js';
import { expectEveryExtentOn, extentSizeBytes, healingMetaFlags, ModelWriter, replicaSets, waitForFullRedundancy } from './e2e-heal-support.js';

/**
 * A chunk server cut off by the network, not killed: metad (3 members) and 3 chunk servers each
 * run in a network namespace of their own (netns.ts); the test's SDK client reaches them over
 * the root link. The server is isolated from every other host and from the client (iptables
 * DROP, so connections hang rather than fail) under SDK writes: writes go on, metad marks it
 * down; after the network heals it catches up. Every acknowledged byte reads back and
 * `basalt status --json` reports full redundancy. Needs root (namespaces, iptables).
 */
const scope = new ProcessScope();
let net: NetnsMetaCluster | undefined;
let client: BasaltClient | undefined;
afterAll(async () => {
  client?.close();
  await net?.destroy();
  await scope.cleanup();
});
const isRoot = process.getuid?.() === 0;
const extents = 8;
const sizeBytes = extents * extentSizeBytes;
const chunkPort = 7200;
const chunkMetricsPort = 9200;

async function serversIn(endpoints: readonly string[], ids: readonly string[], state: string, sinceMs = 0): Promise<void> {
  const meta = new MetaClient({ endpoints: [...endpoints], callTimeoutMs: 3_000 });
  try {
    await waitFor(`${ids.join(',')} to be ${state}`, async () => {
      const { servers } = await meta.call('listServers', {});
      return ids.every((id) => servers.some((s) => s.id === id && s.state === state && Number(s.lastHeartbeatMs) >= sinceMs));
    }, { timeoutMs: 90_000, intervalMs: 250 });
  } finally {
    meta.close();
  }
}

describe('a chunk server cut off by the network', () => {
  // Network namespaces (ip netns, iptables) need root: CI runs as root; unprivileged runs skip this.
  it.skipIf(!isRoot)('under writes: writes go on; after the network heals it catches up', { timeout: 300_000 }, async () => {
    net = await NetnsMetaCluster.start(scope, { size: 3, hosts: 6, flags: healingMetaFlags('1h') });
    await net.meta.waitForLeader();
    const endpoints = net.meta.endpoints;
    const dataRoot = scope.tempDir('basalt-chunks-netns');
    const chunks = [3, 4, 5].map((h, i) => {
      const host = net!.host(h);
      const id = `c${i + 1}`;
      return new ChunkNode(scope, id, `zone-${id}`, chunkPort, chunkMetricsPort, join(dataRoot, id), endpoints, ['--repair-bandwidth', '0'], {
        ip: host.ip, wrap: (command, args) => net!.network.wrap(host, command, args),
      });
    });
    await Promise.all(chunks.map((c) => c.start()));
    await serversIn(endpoints, chunks.map((c) => c.id), 'up');

    client = connect({ metad: endpoints });
    await client.createVolume('cut', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('cut', { writer: true });
    const writer = new ModelWriter(volume, sizeBytes, { seed: SEED + 9, depth: 2, pauseMs: 50, maxBytes: 32 * KiB });
    await writer.fill();
    writer.start();
    await writer.progress(20, 'before the cut');

    const victim = chunks[1]!;
    await net.network.isolate(net.host(4), { fromRoot: true });
    try {
      await serversIn(endpoints, [victim.id], 'down');
      // Writes go on, slowly: packets to the cut-off server are dropped, so each extent it leads
      // costs the client two request timeouts before it reports the primary to metad, and each
      // extent it follows costs its primary a probe or a connect timeout before the member is
      // dropped (one extent after another, about a minute here).
      await writer.progress(20, 'while the server is cut off', 180_000);
    } finally {
      await net.network.heal();
    }
    const sinceMs = Date.now();
    await serversIn(endpoints, [victim.id], 'up', sinceMs);
    await writer.progress(20, 'after the network healed');
    await writer.stop();

    const cluster = { metaEndpoints: endpoints };
    await waitForFullRedundancy(cluster, 'after the network healed');
    expectEveryExtentOn(await replicaSets(client, 'cut', extents), 3, chunks.map((c) => c.id));
    // Every server up again: liveness is the leader's, so a server can show down for a moment
    // after a leader change on this loaded machine, until its next heartbeat reaches the new leader.
    await serversIn(endpoints, chunks.map((c) => c.id), 'up');
    await volume.close();
    await writer.expectReadsBack(client, 'cut', 'after the cut healed');
    expect(victim.pid).toBeDefined();
  });
});
