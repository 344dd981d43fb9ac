/**
 * The Meta API that chunk servers and the SDK use, against a real 3-member cluster: chunk server
 * registration and heartbeats, extent allocation and replica drops with epochs, writer leases
 * with fencing generations, the leader marking a silent chunk server down, and the same API over
 * gRPC (MetaClient calls in frames) for other clients.
 */
import { Client, Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, GiB, MiB } from '@basalt/stdx';
import { fromGrpcError, metaService, TransportSecurity, type MetaClient, type MetaMethodName, type MetaRequest, type MetaReply } from '@basalt/wire';
import { MetaCluster } from './lib/meta-cluster.js';
import { codeOf } from './lib/errors.js';
import { ProcessScope, waitFor } from './lib/process.js';

const scope = new ProcessScope();
let cluster: MetaCluster;
let meta: MetaClient;
/** Chunk servers this test keeps alive with heartbeats (as chunkd would). */
const beating = new Set<string>();
let heartbeats: NodeJS.Timeout | undefined;

beforeAll(async () => {
  cluster = await MetaCluster.start(scope, { flags: ['--chunk-heartbeat-ms', '200', '--chunk-down-after-ms', '3000'] });
  await cluster.waitForLeader();
  meta = cluster.client();
  heartbeats = setInterval(() => {
    for (const id of beating) void meta.call('heartbeat', { id, freeBytes: 50 * GiB }).catch(() => undefined);
  }, 200);
});

afterAll(async () => {
  clearInterval(heartbeats);
  cluster?.close();
  await scope.cleanup();
});

describe('the Meta API for chunk servers and clients', () => {
  it('registers chunk servers and places an extent on three zones, idempotently', async () => {
    for (const [i, zone] of ['a', 'b', 'c'].entries()) {
      const reply = await meta.call('registerServer', { id: `cs${i}`, address: `127.0.0.1:${20000 + i}`, zone, capacityBytes: 100 * GiB, freeBytes: 100 * GiB });
      expect(reply.server).toMatchObject({ id: `cs${i}`, zone, state: 'up' });
      beating.add(`cs${i}`);
    }
    await meta.call('createVolume', { name: 'vol', sizeBytes: GiB, extentSizeBytes: 64 * MiB });
    const first = await meta.call('allocateExtent', { volume: 'vol', index: 3 });
    expect(first.extent?.replicas).toHaveLength(3);
    expect(new Set(first.extent?.replicas?.map((r) => r.serverId))).toEqual(new Set(['cs0', 'cs1', 'cs2']));
    expect(first.extent?.primary).toBe(first.extent?.replicas?.[0]?.serverId);
    const again = await meta.call('allocateExtent', { volume: 'vol', index: 3 });
    expect(again.extent).toEqual(first.extent);
    const map = await meta.call('getExtentMap', { volume: 'vol', fromIndex: 0, count: 16 });
    expect(map.extents.map((e) => e.index)).toEqual([3]);
    expect(map.extentSizeBytes).toBe(64 * MiB);
    expect(await codeOf(meta.call('allocateExtent', { volume: 'vol', index: 16 }))).toBe(ErrorCode.OutOfRange);
  });

  it('drops a replica with the current epoch and refuses a stale one', async () => {
    const { extent } = await meta.call('getExtentMap', { volume: 'vol', fromIndex: 3, count: 1 }).then((m) => ({ extent: m.extents[0]! }));
    const victim = extent.replicas[2]!.serverId;
    const dropped = await meta.call('dropReplica', { volume: 'vol', index: 3, serverId: victim, expectedEpoch: extent.epoch });
    expect(dropped.extent?.epoch).toBe(extent.epoch + 1);
    expect(dropped.extent?.replicas?.map((r) => r.serverId)).not.toContain(victim);
    const stale = dropped.extent!.replicas[1]!.serverId;
    expect(await codeOf(meta.call('dropReplica', { volume: 'vol', index: 3, serverId: stale, expectedEpoch: extent.epoch }))).toBe(ErrorCode.StaleEpoch);
  });

  it('grants one writer lease, refuses a second writer, and fences the first on a forced takeover', async () => {
    const a = await meta.call('acquireLease', { volume: 'vol', clientId: 'writer-a' });
    expect(a.holder).toBe('writer-a');
    expect(await codeOf(meta.call('acquireLease', { volume: 'vol', clientId: 'writer-b' }))).toBe(ErrorCode.LeaseConflict);
    const b = await meta.call('acquireLease', { volume: 'vol', clientId: 'writer-b', force: true });
    expect(b.generation).toBeGreaterThan(a.generation);
    expect(await codeOf(meta.call('releaseLease', { volume: 'vol', clientId: 'writer-a', generation: a.generation }))).toBe(ErrorCode.LeaseFenced);
    await meta.call('releaseLease', { volume: 'vol', clientId: 'writer-b', generation: b.generation });
    const { volume } = await meta.call('getVolume', { name: 'vol' });
    expect(volume?.leaseHolder).toBe('');
  });

  it('marks a chunk server down when it stops heartbeating, and up when it heartbeats again', async () => {
    const beat = (id: string) => meta.call('heartbeat', { id, freeBytes: 50 * GiB });
    const reply = await beat('cs0');
    expect(reply.intervalMs).toBe(200);
    beating.delete('cs0');
    await waitFor('cs0 to be marked down', async () => {
      const { servers } = await meta.call('listServers', {});
      return servers.find((s) => s.id === 'cs0')?.state === 'down';
    });
    const { servers } = await meta.call('listServers', {});
    expect(servers.find((s) => s.id === 'cs1')?.state).toBe('up');
    expect((await beat('cs0')).state).toBe('up');
  });

  it('serves the same API over gRPC: a reply, and a follower\'s BASALT_NOT_LEADER with the leader\'s address in its trailers', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.running().find((i) => i !== leader)!;
    const grpcCall = <K extends MetaMethodName>(i: number, method: K, request: MetaRequest<K>): Promise<MetaReply<K>> => {
      const address = cluster.member(i).address;
      const client = new Client(address, TransportSecurity.insecure().channelCredentials());
      const def = metaService[method];
      return new Promise<MetaReply<K>>((resolve, reject) => {
        client.makeUnaryRequest(def.path, def.requestSerialize as (r: MetaRequest<K>) => Buffer, def.responseDeserialize as (b: Buffer) => MetaReply<K>, request, new Metadata(), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, reply?: MetaReply<K>) => {
          if (err) reject(fromGrpcError(err, address));
          else resolve(reply!);
        });
      }).finally(() => client.close());
    };
    expect((await grpcCall(leader, 'getVolume', { name: 'vol' })).volume?.name).toBe('vol');
    const refused = await grpcCall(follower, 'getVolume', { name: 'vol' }).then(() => undefined, (err: unknown) => err);
    expect(refused).toBeInstanceOf(BasaltError);
    expect((refused as BasaltError).code).toBe(ErrorCode.NotLeader);
    expect((refused as BasaltError).details.leaderAddress).toBe(cluster.member(leader).address);
  });
});
