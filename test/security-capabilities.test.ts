import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClientMetrics } from '@basalt/client';
import { ErrorCode, MiB, type BasaltError } from '@basalt/stdx';
import { DataConnection, DataFlag, DataOp, generateSigningKey, MetaClient, parseToken, pieceCrcs, signingKeyFromPem, signToken, type ExtentRef, type pb } from '@basalt/wire';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';

/**
 * Capabilities over real processes (docs/data-path.md, "Capabilities"): metad signs with the
 * cluster's key (--signing-key), chunk servers run with --require-capabilities. A client that
 * talks to a chunk server directly gets nothing without a capability metad signed for the
 * volume it touches; a forged or replayed one is refused; a replica set or epoch metad did not
 * sign is refused even from a holder of a valid peer capability; the SDK's reads, writes and
 * flushes (a LOCAL FLUSH to every member, over connections that authenticate first) and a
 * failover (DropReplica, forwarding at the new epoch) work as before, and refused requests
 * change no stored byte.
 */
const { scope, keep } = clusterScope();
const extentSizeBytes = 4 * MiB;

function refOf(volumeId: number, e: pb.IExtent, generation: number, auth?: Buffer[]): ExtentRef {
  const all = (e.replicas ?? []).map((r) => (r.rebuilding === true ? { serverId: r.serverId!, address: r.address!, rebuilding: true } : { serverId: r.serverId!, address: r.address! }));
  const replicas = [...all.filter((r) => r.serverId === e.primary), ...all.filter((r) => r.serverId !== e.primary)];
  return { volumeId, index: Number(e.index), extentSizeBytes, epoch: Number(e.epoch), generation, replicas, ...(auth !== undefined && { auth }) };
}

describe('capabilities on the data plane', () => {
  it('refuse requests without, or with forged or replayed, capabilities and unsigned replica sets', { timeout: 300_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope));
    const metrics = new ClientMetrics();
    const client = cluster.client({ requestTimeoutMs: 10_000, metrics });
    await client.createVolume('tenant-a', { sizeBytes: 8 * MiB, extentSizeBytes, replicationFactor: 3 });
    await client.createVolume('tenant-b', { sizeBytes: 8 * MiB, extentSizeBytes, replicationFactor: 3 });
    const a = await client.openVolume('tenant-a', { writer: true });
    const b = await client.openVolume('tenant-b', { writer: true });
    const dataA = Buffer.alloc(64 * 1024, 0xa1);
    const dataB = Buffer.alloc(64 * 1024, 0xb2);
    await a.write(0, dataA);
    await b.write(0, dataB);
    expect((await a.read(0, dataA.length)).equals(dataA)).toBe(true);
    expect((await b.read(0, dataB.length)).equals(dataB)).toBe(true);
    // The flush goes to each member itself (docs/data-path.md, "Flush"); none had to go through the primary.
    await a.flush();
    await b.flush();
    expect((await metrics.registry.getSingleMetric('basalt_client_flush_fallbacks_total')!.get()).values).toEqual([]);

    const meta = new MetaClient({ endpoints: cluster.metaEndpoints });
    const mapA = await meta.call('getExtentMap', { volume: 'tenant-a', fromIndex: 0, count: 1, writer: true });
    const mapB = await meta.call('getExtentMap', { volume: 'tenant-b', fromIndex: 0, count: 1 });
    const capA = Buffer.from(mapA.capability);
    const extA = mapA.extents[0]!;
    const extB = mapB.extents[0]!;
    expect(capA.length).toBeGreaterThan(0);
    expect(extB.signedState?.length).toBeGreaterThan(0);
    const stateB = Buffer.from(extB.signedState);
    const bRef = refOf(b.id, extB, b.generation);
    const primaryB = await DataConnection.connect(bRef.replicas[0]!.address, { requestTimeoutMs: 10_000 });
    try {
      // No capability at all.
      await expect(primaryB.read(bRef, 0, 4096)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
      // Tenant A's capability (with B's genuine signed state) against volume B.
      const withA = { ...bRef, auth: [capA, stateB] };
      await expect(primaryB.read(withA, 0, 4096)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
      await expect(primaryB.write(withA, 0, Buffer.alloc(4096, 0xee))).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
      // A capability for B that another key signed: refused at AUTH, and B stays closed.
      const forged = signToken({ kind: 'client', volumeId: b.id, firstIndex: 0, endIndex: 2, mode: 'rw', generation: b.generation, expiresAtMs: Date.now() + 60_000 }, generateSigningKey());
      await expect(primaryB.authenticate(forged)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
      await expect(primaryB.write({ ...bRef, auth: [forged] }, 0, Buffer.alloc(4096, 0xee))).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
    } finally {
      primaryB.close();
    }

    // A replayed capability: A's writer at generation g1 is taken over (g2); its capability no longer writes.
    const g1 = a.generation;
    const takeover = await cluster.client().openVolume('tenant-a', { writer: true, force: true });
    expect(takeover.generation).toBeGreaterThan(g1);
    await takeover.write(4096, Buffer.alloc(4096, 0xc3));
    const aRef = refOf(a.id, extA, g1, [capA, Buffer.from(extA.signedState)]);
    const takeoverCap = Buffer.from((await meta.call('getExtentMap', { volume: 'tenant-a', fromIndex: 0, count: 1, writer: true })).capability);
    const primaryA = await DataConnection.connect(aRef.replicas[0]!.address, { requestTimeoutMs: 10_000 });
    try {
      await expect(primaryA.write(aRef, 0, Buffer.alloc(4096, 0xee))).rejects.toMatchObject({ code: ErrorCode.LeaseFenced });
      await expect(primaryA.write({ ...aRef, generation: takeover.generation }, 0, Buffer.alloc(4096, 0xee))).rejects.toMatchObject({ code: ErrorCode.PermissionDenied });
      // It still reads (a read-write capability reads until it expires).
      expect((await primaryA.read(aRef, 0, 4096)).data.equals(dataA.subarray(0, 4096))).toBe(true);
      // A forged epoch and set (the secondaries left out) with a genuine capability: refused, nothing adopted.
      const forgedSet = { ...aRef, generation: takeover.generation, epoch: aRef.epoch + 1, replicas: aRef.replicas.slice(0, 1) };
      await expect(primaryA.write({ ...forgedSet, auth: [takeoverCap] }, 0, Buffer.alloc(4096, 0xee))).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
      expect((await primaryA.info({ ...aRef, auth: [takeoverCap] })).epoch).toBe(aRef.epoch);
    } finally {
      primaryA.close();
    }

    // A forward with a forged set or epoch, even from a holder of a valid peer capability (made with the cluster's key).
    const clusterKey = signingKeyFromPem(readFileSync(cluster.signingKeyFile!, 'utf8'));
    const peerCap = signToken({ kind: 'peer', serverId: 'intruder', expiresAtMs: Date.now() + 60_000 }, clusterKey);
    const secondary = aRef.replicas[1]!;
    const toSecondary = await DataConnection.connect(secondary.address, { requestTimeoutMs: 10_000 });
    try {
      const payload = Buffer.alloc(4096, 0xee);
      const forward = (ext: ExtentRef): Promise<unknown> =>
        toSecondary.send({ op: DataOp.Write, flags: DataFlag.Forwarded, requestId: 0, extent: ext, offset: 0, length: payload.length, crcs: pieceCrcs(0, payload), payload, stamp: { epoch: ext.epoch, seq: 1 } });
      // Without a peer capability (a client's capability does not make a forward).
      await expect(forward({ ...aRef, generation: takeover.generation, auth: [takeoverCap] })).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
      // A newer epoch whose set names the intruder as primary: no signature of metad for it.
      const intruderSet = { ...aRef, generation: takeover.generation, epoch: aRef.epoch + 5, replicas: [{ serverId: 'intruder', address: '127.0.0.1:1' }, secondary], auth: [peerCap] };
      await expect(forward(intruderSet)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
      // The current epoch with a set naming the intruder as primary: refused against the stored set.
      await expect(forward({ ...intruderSet, epoch: aRef.epoch })).rejects.toMatchObject({ code: ErrorCode.Protocol });
      // An epoch that would fence the secondary (a set without it): refused, and it still serves.
      await expect(forward({ ...intruderSet, replicas: [{ serverId: 'intruder', address: '127.0.0.1:1' }] })).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
      expect((await toSecondary.info({ ...aRef, auth: [peerCap] })).epoch).toBe(aRef.epoch);
    } finally {
      toSecondary.close();
    }

    // Nothing refused changed a byte; the SDK goes on, also through a failover (DropReplica at a new signed epoch).
    expect((await takeover.read(0, dataA.length)).subarray(0, 4096).equals(dataA.subarray(0, 4096))).toBe(true);
    expect((await b.read(0, dataB.length)).equals(dataB)).toBe(true);
    await cluster.chunkById(secondary.serverId).kill();
    const after = Buffer.alloc(64 * 1024, 0xd4);
    await takeover.write(0, after);
    expect((await takeover.read(0, after.length)).equals(after)).toBe(true);
    const moved = await meta.call('getExtentMap', { volume: 'tenant-a', fromIndex: 0, count: 1 });
    expect(Number(moved.extents[0]!.epoch)).toBeGreaterThan(aRef.epoch);
    // A write at the old epoch is refused, and the refusal carries metad's signed state of the primary's epoch (the SDK re-sends with it).
    const primaryAgain = await DataConnection.connect(aRef.replicas[0]!.address, { requestTimeoutMs: 10_000 });
    try {
      const refusal = await primaryAgain.write({ ...aRef, generation: takeover.generation, auth: [takeoverCap] }, 0, Buffer.alloc(4096, 0xee)).catch((err: unknown) => err);
      expect(refusal).toMatchObject({ code: ErrorCode.StaleEpoch });
      const carried = parseToken((refusal as BasaltError).details.signedState as Buffer);
      expect(carried).toMatchObject({ kind: 'ok', claims: { kind: 'extent', volumeId: a.id, index: 0, epoch: Number(moved.extents[0]!.epoch) } });
    } finally {
      primaryAgain.close();
    }
    // A volume grown past the capability's extent range: the SDK fetches a capability that covers the new extent.
    await client.resizeVolume('tenant-a', 12 * MiB);
    const grown = Buffer.alloc(4096, 0xe5);
    await takeover.write(8 * MiB, grown);
    expect((await takeover.read(8 * MiB, grown.length)).equals(grown)).toBe(true);
    meta.close();
  });
});
