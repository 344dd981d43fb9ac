import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { DataOp, pieceCrcs, type DataRequest, type ReplicaRef } from '@basalt/wire';
import { MemoryDisk, MemoryExtentStore } from '../store/memory-extent-store.js';
import { ChunkService } from './chunk-service.js';
import type { ExtentPlacement, MetaLink } from './meta-link.js';
import { ChunkMetrics } from './metrics.js';
import { Replicator } from './replicator.js';

/** A port nothing listens on: connecting to it fails at once. */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !what(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('replicator', () => {
  it('reports a rebuilding member that missed a write to metad with a reason, and acknowledges the write only after metad dropped it', async () => {
    const store = MemoryExtentStore.open(new MemoryDisk());
    const metrics = new ChunkMetrics();
    const calls: unknown[][] = [];
    let answer: ((p: ExtentPlacement) => void) | undefined;
    const link = {
      dropReplica: (...args: unknown[]) => {
        calls.push(args);
        return new Promise<ExtentPlacement>((resolve) => (answer = resolve));
      },
    } as unknown as MetaLink;
    const replicator = new Replicator('a', store, link, metrics, 5_000, () => undefined);
    const service = new ChunkService('a', store, replicator, metrics);
    const primary: ReplicaRef = { serverId: 'a', address: '127.0.0.1:1' };
    const set: ReplicaRef[] = [primary, { serverId: 'b', address: `127.0.0.1:${await deadPort()}`, rebuilding: true }];
    const payload = Buffer.alloc(4096, 3);
    const req: DataRequest = { op: DataOp.Write, flags: 0, requestId: 1, extent: { volumeId: 1, index: 0, extentSizeBytes: MiB, epoch: 4, generation: 1, replicas: set }, offset: 0, length: payload.length, payload, crcs: pieceCrcs(0, payload) };
    let acknowledged = false;
    const reply = service.handle(req).then((res) => {
      acknowledged = true;
      return res;
    });
    await until(() => calls.length > 0);
    expect(calls).toEqual([[1, 0, 'b', 4, 'unreachable']]);
    expect(acknowledged, 'the write waits for metad while the member is not yet dropped').toBe(false);
    answer!({ epoch: 5, replicas: [primary] });
    expect(await reply).toMatchObject({ ok: true, epoch: 5 });
    expect(store.get(1, 0)).toMatchObject({ epoch: 5, replicas: [primary] });
    const stamps = await store.stamps(1, 0, 0, 4096, false);
    expect([stamps.epochs[0], stamps.seqs[0]]).toEqual([4, 1]);
    replicator.close();
  });
});
