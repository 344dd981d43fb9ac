import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, Prng } from '@basalt/stdx';
import type { BasaltClient, VolumeEvent } from '@basalt/client';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { SEED } from './e2e-support.js';

/**
 * A chunk server that stops answering without closing its connections (SIGSTOP here; a hung
 * process, a frozen VM or a cut link alike) must not hold writes for long. Before data
 * connections probed silent servers (DataConnection: a PING after limits.dataProbeAfterMs of
 * silence, failure after limits.dataProbeTimeoutMs more), a write waited for the request
 * timeouts: 10 s at a primary for a stopped secondary, and 2 x 15 s at the SDK for a stopped
 * primary (30 s: as long as the I/O timeout Linux NBD clients are commonly given).
 *
 * The client here waits 10 minutes per request, far longer than the test may run: only a
 * probe can fail the stopped primary over. The primary that drops a stopped secondary says
 * in its log that the secondary did not answer a ping (its own timeout would say "timed out").
 */
const { scope, keep } = clusterScope();

const extentSizeBytes = 4 * MiB;
const extents = 6;
const prng = new Prng(SEED);
let cluster: BasaltCluster;
let client: BasaltClient;
const events: VolumeEvent[] = [];

describe('a chunk server that stops answering', () => {
  beforeAll(async () => {
    cluster = keep(await BasaltCluster.start(scope));
    client = cluster.client({ requestTimeoutMs: 600_000, onEvent: (e) => events.push(e) });
  }, 240_000);

  it('is dropped from the replica sets it leads and serves within seconds, and no acknowledged write is lost', { timeout: 120_000 }, async () => {
    await client.createVolume('stalled', { sizeBytes: extents * extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    const volume = await client.openVolume('stalled', { writer: true });
    for (let i = 0; i < extents; i++) await volume.write(i * extentSizeBytes, randomMiB());
    const before = await extentMap();
    const victim = cluster.chunks.find((c) => before.some((e) => e.replicas[0] === c.id))!;
    const led = before.filter((e) => e.replicas[0] === victim.id).map((e) => e.index);
    const followed = before.filter((e) => e.replicas[0] !== victim.id).map((e) => e.index);
    expect(followed.length, `the victim ${victim.id} leads every extent; placement: ${JSON.stringify(before)}`).toBeGreaterThan(0);

    const written = new Map<number, Buffer>();
    await victim.signal('SIGSTOP');
    try {
      await Promise.all(before.map(async (e) => {
        const data = randomMiB();
        await volume.write(e.index * extentSizeBytes + 1 * MiB, data);
        written.set(e.index, data);
      }));
    } finally {
      await victim.signal('SIGCONT');
    }

    const after = await extentMap();
    for (const e of after) expect(e.replicas, `extent ${e.index}`).not.toContain(victim.id);
    for (const index of led) expect(events).toContainEqual({ kind: 'replica_dropped', volume: 'stalled', index, serverId: victim.id, epoch: after[index]!.epoch });
    for (const index of followed) {
      const primary = cluster.chunks.find((c) => c.id === before[index]!.replicas[0])!;
      expect(primary.process!.log()).toMatch(new RegExp(`secondary ${victim.id} of extent \\d+/${index} failed \\(chunk server at ${victim.address} sent nothing for \\d+ ms with \\d+ request\\(s\\) waiting and did not answer a ping`));
    }
    for (const [index, data] of written) {
      expect((await volume.read(index * extentSizeBytes + 1 * MiB, data.length)).equals(data), `extent ${index} reads back what was written`).toBe(true);
    }
    await volume.close();
  });
});

function randomMiB(): Buffer {
  return Buffer.from(prng.fill(new Uint8Array(1 * MiB)));
}

async function extentMap(): Promise<{ index: number; epoch: number; replicas: string[] }[]> {
  const list = (await client.extentPlacements('stalled')).filter((e) => e.index < extents);
  return list.map((e) => ({ index: e.index, epoch: e.epoch, replicas: e.replicas.map((r) => r.serverId) }));
}
