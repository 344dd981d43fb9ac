import { describe, expect, it } from 'vitest';
import { ErrorCode, MiB } from '@basalt/stdx';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';

/**
 * The SDK's control plane against a real cluster (three metad members, three chunk servers):
 * every call returns the SDK's own types (no protobuf objects: plain numbers, never undefined)
 * and failures carry the stable codes of docs/errors.md.
 */
const { scope, keep } = clusterScope();
const extentSizeBytes = 4 * MiB;

describe('the SDK control plane', () => {
  it('creates, lists, gets, labels, leases, resizes and deletes volumes with typed results and stable codes', { timeout: 240_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope));
    const client = cluster.client();

    const created = await client.createVolume('cp', { sizeBytes: 2 * extentSizeBytes, extentSizeBytes, replicationFactor: 2 });
    expect(created).toMatchObject({ name: 'cp', sizeBytes: 2 * extentSizeBytes, extentSizeBytes, replicationFactor: 2, extentCount: 2, allocatedExtents: 0, leaseHolder: '', labels: {} });
    expect(typeof created.id).toBe('number');
    await expect(client.createVolume('cp', { sizeBytes: extentSizeBytes, extentSizeBytes })).rejects.toMatchObject({ code: ErrorCode.VolumeExists });
    expect((await client.listVolumes()).map((v) => v.name)).toEqual(['cp']);
    await expect(client.getVolume('nope')).rejects.toMatchObject({ code: ErrorCode.VolumeNotFound });

    expect((await client.setLabel('cp', 'app', 'db')).labels).toEqual({ app: 'db' });
    await expect(client.setLabel('cp', 'app', 'web', { expect: 'other' })).rejects.toMatchObject({ code: ErrorCode.CompareFailed });
    expect((await client.setLabel('cp', 'app', 'web', { expect: 'db' })).labels).toEqual({ app: 'web' });
    expect((await client.setLabel('cp', 'app', undefined)).labels).toEqual({});

    const lease = await client.acquireLease('cp', 'holder-a');
    expect(lease).toEqual({ holder: 'holder-a', generation: 1 });
    await expect(client.acquireLease('cp', 'holder-b')).rejects.toMatchObject({ code: ErrorCode.LeaseConflict });
    const taken = await client.acquireLease('cp', 'holder-b', { force: true });
    expect(taken.generation).toBe(2);
    expect((await client.getVolume('cp')).leaseHolder).toBe('holder-b');
    await expect(client.releaseLease('cp', lease)).rejects.toMatchObject({ code: ErrorCode.LeaseFenced });
    await expect(client.deleteVolume('cp')).rejects.toMatchObject({ code: ErrorCode.VolumeBusy });
    await client.releaseLease('cp', taken);

    const volume = await client.openVolume('cp', { writer: true });
    await volume.write(extentSizeBytes, Buffer.alloc(4096, 1));
    await volume.close();
    const placements = await client.extentPlacements('cp');
    expect(placements.map((p) => p.index)).toEqual([1]);
    expect(placements[0]!.replicas).toHaveLength(2);
    expect(placements[0]!.replicas[0]!.serverId).toBe(placements[0]!.primary);
    expect((await client.getVolume('cp')).allocatedExtents).toBe(1);

    expect((await client.resizeVolume('cp', 4 * extentSizeBytes)).extentCount).toBe(4);
    await expect(client.resizeVolume('cp', extentSizeBytes)).rejects.toMatchObject({ code: ErrorCode.ShrinkNotAllowed });

    await client.deleteVolume('cp');
    expect(await client.listVolumes()).toEqual([]);
  });

  it('reports chunk servers, redundancy and metad members', { timeout: 240_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope));
    const client = cluster.client();
    const servers = await client.listServers();
    expect(servers.map((s) => s.id).sort()).toEqual(['c1', 'c2', 'c3']);
    for (const s of servers) {
      expect(s.state).toBe('up');
      expect(s.capacityBytes).toBeGreaterThan(0);
      expect(s.repair).toEqual({ copiesRunning: 0, bytesLeft: 0, bytesCopied: 0, rateBytesPerSec: 0 });
    }
    expect(await client.repairStatus()).toMatchObject({ degradedExtents: 0, criticalExtents: 0, rebuildingReplicas: 0, etaSeconds: 0 });
    expect(await client.degradedExtents()).toEqual({ total: 0, extents: [] });
    await expect(client.drainServer('c9')).rejects.toMatchObject({ code: ErrorCode.ServerNotFound });

    const members = await client.listMembers();
    expect(members).toHaveLength(3);
    const statuses = await client.memberStatuses();
    expect(statuses.filter((m) => m.role === 'leader')).toHaveLength(1);
    const leader = await client.memberStatus();
    expect(statuses.every((m) => m.error === undefined && m.leaderId === leader.leaderId)).toBe(true);
    // An address nobody listens on shows up with its error instead of failing the whole call.
    const withDead = await client.memberStatuses(['127.0.0.1:1']);
    expect(withDead.find((m) => m.address === '127.0.0.1:1')?.error?.code).toBe(ErrorCode.Unavailable);
  });
});
