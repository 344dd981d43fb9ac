import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, GiB, MiB, type Identity } from '@basalt/stdx';
import { pb, TransportSecurity } from '@basalt/wire';
import { AuditLog } from './audit-log.js';
import { ChunkServerLiveness } from './chunk-server-liveness.js';
import { MemoryLogStore } from './memory-log-store.js';
import { metaHandlers, type CallerHandlers } from './meta-api.js';
import { MetaMetrics } from './metrics.js';
import { RaftHost } from './raft-host.js';

/**
 * The Meta API handlers of a one-member metad in this process, called with injected identities:
 * what each role may do, what a tenant's client sees, quotas, and the audit trail they leave.
 */
const admin: Identity = { role: 'admin', name: 'ops' };
const clientA: Identity = { role: 'client', name: 'app', tenant: 'team-a' };
const clientB: Identity = { role: 'client', name: 'app', tenant: 'team-b' };
const agentA: Identity = { role: 'agent', name: 'host-1', tenant: 'team-a' };
const chunk: Identity = { role: 'chunkd', name: 'cs-1' };
const member: Identity = { role: 'metad', name: 'm2' };

let dir: string;
let host: RaftHost;
let api: CallerHandlers;
let audit: AuditLog | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'basalt-meta-api-'));
  host = await RaftHost.open({
    id: 'm1', address: '127.0.0.1:1', cluster: 'test', store: new MemoryLogStore(), peers: new Map([['m1', '127.0.0.1:1']]), join: false,
    tickMs: 10, electionTicks: 5, heartbeatTicks: 1, snapshotEntries: 10_000, snapshotBytes: 16 * MiB, snapshotKeepEntries: 1000,
    requestTimeoutMs: 5_000, metrics: new MetaMetrics(), log: () => undefined, onRemoved: () => undefined, security: TransportSecurity.insecure(),
  });
  for (let i = 0; i < 500 && !host.isLeader; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(host.isLeader).toBe(true);
  audit = await AuditLog.open(dir, (line) => console.log(line));
  api = metaHandlers({ host, audit, liveness: new ChunkServerLiveness(host, 1000), repair: { nudge: () => undefined }, pid: 1, metricsAddress: '', consoleAddress: '' });
  await api.createTenant(pb.CreateTenantRequest.create({ name: 'team-a', maxBytes: 3 * GiB, maxVolumes: 2 }), admin);
  await api.createTenant(pb.CreateTenantRequest.create({ name: 'team-b' }), admin);
});

afterAll(async () => {
  await host?.close();
  audit?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof BasaltError ? err.code : String(err);
  }
}

const create = (name: string, sizeBytes: number, tenant = '') => pb.CreateVolumeRequest.create({ name, sizeBytes, extentSizeBytes: 64 * MiB, replicationFactor: 1, tenant });
const names = (r: { volumes?: pb.IVolume[] | null }) => (r.volumes ?? []).map((v) => v.name);

describe('the Meta API with identities', () => {
  it('creates a client volume in its own tenant and refuses one in another tenant', async () => {
    expect((await api.createVolume(create('a-1', GiB), clientA)).volume?.tenant).toBe('team-a');
    expect(await codeOf(api.createVolume(create('b-1', GiB, 'team-b'), clientA))).toBe(ErrorCode.PermissionDenied);
    expect((await api.createVolume(create('b-1', GiB), clientB)).volume?.tenant).toBe('team-b');
    expect((await api.createVolume(create('ops-1', GiB), admin)).volume?.tenant).toBe('default');
    expect((await api.createVolume(create('ops-b', GiB, 'team-b'), admin)).volume?.tenant).toBe('team-b');
    expect(await codeOf(api.createVolume(create('x', GiB, 'nobody'), admin))).toBe(ErrorCode.TenantNotFound);
  });

  it('lists and opens only the caller tenant volumes; an admin sees all and filters by tenant', async () => {
    expect(names(await api.listVolumes(pb.ListVolumesRequest.create({}), clientA))).toEqual(['a-1']);
    expect(names(await api.listVolumes(pb.ListVolumesRequest.create({ limit: 10 }), clientB))).toEqual(['b-1', 'ops-b']);
    expect(names(await api.listVolumes(pb.ListVolumesRequest.create({}), agentA))).toEqual(['a-1']);
    expect(await codeOf(api.listVolumes(pb.ListVolumesRequest.create({ tenant: 'team-b' }), clientA))).toBe(ErrorCode.PermissionDenied);
    expect(names(await api.listVolumes(pb.ListVolumesRequest.create({}), admin))).toEqual(['a-1', 'b-1', 'ops-1', 'ops-b']);
    expect(names(await api.listVolumes(pb.ListVolumesRequest.create({ tenant: 'team-b', limit: 1 }), admin))).toEqual(['b-1']);
    expect(await api.listVolumes(pb.ListVolumesRequest.create({ tenant: 'team-b', limit: 1 }), admin)).toMatchObject({ nextPageToken: 'b-1' });
    for (const call of [
      () => api.getVolume(pb.GetVolumeRequest.create({ name: 'b-1' }), clientA),
      () => api.getVolume(pb.GetVolumeRequest.create({ name: 'b-1' }), agentA),
      () => api.getExtentMap(pb.GetExtentMapRequest.create({ volume: 'b-1' }), agentA),
      () => api.acquireLease(pb.AcquireLeaseRequest.create({ volume: 'b-1', clientId: 'agent-1' }), agentA),
      () => api.allocateExtent(pb.AllocateExtentRequest.create({ volume: 'b-1', index: 0 }), clientA),
      () => api.setVolumeLabel(pb.SetVolumeLabelRequest.create({ name: 'b-1', key: 'k', value: 'v' }), clientA),
      () => api.resizeVolume(pb.ResizeVolumeRequest.create({ name: 'b-1', sizeBytes: 2 * GiB }), clientA),
      () => api.deleteVolume(pb.DeleteVolumeRequest.create({ name: 'b-1', force: true }), clientA),
    ]) {
      expect(await codeOf(call())).toBe(ErrorCode.PermissionDenied);
    }
    expect((await api.getVolume(pb.GetVolumeRequest.create({ name: 'b-1' }), admin)).volume?.sizeBytes).toBe(GiB);
    expect((await api.acquireLease(pb.AcquireLeaseRequest.create({ volume: 'a-1', clientId: 'agent-1' }), agentA)).holder).toBe('agent-1');
  });

  it('refuses creates and growth past a tenant quota with BASALT_QUOTA_EXCEEDED', async () => {
    expect(await codeOf(api.createVolume(create('a-big', 3 * GiB), clientA))).toBe(ErrorCode.QuotaExceeded);
    await api.createVolume(create('a-2', GiB), clientA);
    expect(await codeOf(api.createVolume(create('a-3', 64 * MiB), clientA))).toBe(ErrorCode.QuotaExceeded);
    expect(await codeOf(api.resizeVolume(pb.ResizeVolumeRequest.create({ name: 'a-2', sizeBytes: 3 * GiB }), clientA))).toBe(ErrorCode.QuotaExceeded);
    expect((await api.resizeVolume(pb.ResizeVolumeRequest.create({ name: 'a-2', sizeBytes: 2 * GiB }), clientA)).volume?.sizeBytes).toBe(2 * GiB);
    const tenants = await api.listTenants(pb.ListTenantsRequest.create({}), clientA);
    expect(tenants.tenants ?? []).toEqual([expect.objectContaining({ name: 'team-a', volumes: 2, sizeBytes: 3 * GiB, maxBytes: 3 * GiB, maxVolumes: 2 })]);
    expect(((await api.listTenants(pb.ListTenantsRequest.create({}), admin)).tenants ?? []).map((t) => t.name)).toEqual(['default', 'team-a', 'team-b']);
  });

  it('refuses roles their forbidden calls: a chunk server volume changes, a client server and tenant changes, a member everything but Raft and status', async () => {
    expect(await codeOf(api.createVolume(create('cs-vol', GiB), chunk))).toBe(ErrorCode.PermissionDenied);
    expect(await codeOf(api.deleteVolume(pb.DeleteVolumeRequest.create({ name: 'a-1' }), chunk))).toBe(ErrorCode.PermissionDenied);
    expect(await codeOf(api.registerServer(pb.RegisterServerRequest.create({ id: 'cs-2', address: '127.0.0.1:9', zone: 'z', capacityBytes: GiB }), chunk))).toBe(ErrorCode.PermissionDenied);
    expect((await api.registerServer(pb.RegisterServerRequest.create({ id: 'cs-1', address: '127.0.0.1:9', zone: 'z', capacityBytes: GiB, freeBytes: GiB }), chunk)).server?.id).toBe('cs-1');
    expect(await codeOf(api.drainServer(pb.DrainServerRequest.create({ id: 'cs-1', drain: true }), clientA))).toBe(ErrorCode.PermissionDenied);
    expect(await codeOf(api.createTenant(pb.CreateTenantRequest.create({ name: 'mine' }), clientA))).toBe(ErrorCode.PermissionDenied);
    expect(await codeOf(api.listAudit(pb.ListAuditRequest.create({}), clientA))).toBe(ErrorCode.PermissionDenied);
    expect(await codeOf(api.listVolumes(pb.ListVolumesRequest.create({}), member))).toBe(ErrorCode.PermissionDenied);
    expect((await api.status(pb.StatusRequest.create({}), member)).id).toBe('m1');
  });

  it('removes a tenant only once it owns no volume', async () => {
    expect(await codeOf(api.deleteTenant(pb.DeleteTenantRequest.create({ name: 'team-b' }), admin))).toBe(ErrorCode.TenantNotEmpty);
    await api.deleteVolume(pb.DeleteVolumeRequest.create({ name: 'b-1' }), clientB);
    await api.deleteVolume(pb.DeleteVolumeRequest.create({ name: 'ops-b' }), admin);
    await api.deleteTenant(pb.DeleteTenantRequest.create({ name: 'team-b' }), admin);
    expect(((await api.listTenants(pb.ListTenantsRequest.create({}), admin)).tenants ?? []).map((t) => t.name)).toEqual(['default', 'team-a']);
  });

  it('audits who did what and how it ended, and refusals of a caller rights, for admins only to read', async () => {
    const entries = (await api.listAudit(pb.ListAuditRequest.create({}), admin)).entries ?? [];
    const line = (e: pb.IAuditEntry) => `${e.role}/${e.name}${e.tenant ? `@${e.tenant}` : ''} ${e.method} ${e.target} ${e.outcome}`;
    const lines = entries.map(line);
    expect(lines).toEqual(expect.arrayContaining([
      'admin/ops createTenant team-a ok',
      'client/app@team-a createVolume a-1 ok',
      'client/app@team-a createVolume b-1 BASALT_PERMISSION_DENIED',
      'client/app@team-a getVolume b-1 BASALT_PERMISSION_DENIED',
      'client/app@team-a deleteVolume b-1 BASALT_PERMISSION_DENIED',
      'client/app@team-a createVolume a-big BASALT_QUOTA_EXCEEDED',
      'chunkd/cs-1 registerServer cs-2 BASALT_PERMISSION_DENIED',
      'admin/ops deleteTenant team-b BASALT_TENANT_NOT_EMPTY',
      'admin/ops deleteTenant team-b ok',
    ]));
    expect(lines).not.toContain('client/app@team-a listVolumes  ok');
    expect(lines.some((l) => l.startsWith('chunkd/cs-1 registerServer cs-1'))).toBe(false);
    expect(entries.every((e, i) => i === 0 || Number(e.atMs) >= Number(entries[i - 1]!.atMs))).toBe(true);
    const last = await api.listAudit(pb.ListAuditRequest.create({ limit: 2 }), admin);
    expect((last.entries ?? []).map(line)).toEqual(lines.slice(-2));
    const later = await api.listAudit(pb.ListAuditRequest.create({ sinceMs: Date.now() + 60_000 }), admin);
    expect(later.entries).toEqual([]);
  });
});

describe('DropReplica with fail_over_volume', () => {
  it('drops a silent primary from every extent of the volume it leads, in one call, and answers with the new sets', async () => {
    for (const id of ['f1', 'f2', 'f3']) {
      await api.registerServer(pb.RegisterServerRequest.create({ id, address: `127.0.0.1:${id.slice(1)}0`, zone: `z${id}`, capacityBytes: 64 * GiB, freeBytes: 64 * GiB }), { role: 'chunkd', name: id });
    }
    await api.createVolume(pb.CreateVolumeRequest.create({ name: 'fo', sizeBytes: 8 * 64 * MiB, extentSizeBytes: 64 * MiB, replicationFactor: 3 }), admin);
    for (let index = 0; index < 8; index++) await api.allocateExtent(pb.AllocateExtentRequest.create({ volume: 'fo', index }), admin);
    const map = async () => (await api.getExtentMap(pb.GetExtentMapRequest.create({ volume: 'fo', count: 8 }), admin)).extents ?? [];
    const before = await map();
    const x = before[0]!.primary!;
    const led = before.filter((e) => e.primary === x).map((e) => Number(e.index));
    expect(led.length).toBeGreaterThan(1);
    const reply = await api.dropReplica(pb.DropReplicaRequest.create({ volume: 'fo', index: 0, serverId: x, expectedEpoch: Number(before[0]!.epoch), reason: 'unreachable', failOverVolume: true }), admin);
    expect(reply.extent?.replicas?.map((r) => r.serverId)).not.toContain(x);
    expect((reply.failedOver ?? []).map((e) => Number(e.index)).sort((a, b) => a - b)).toEqual(led.slice(1));
    const after = await map();
    expect(after.filter((e) => e.primary === x)).toEqual([]);
    for (const e of after) expect(Number(e.epoch)).toBe(Number(before[Number(e.index)]!.epoch) + (led.includes(Number(e.index)) ? 1 : 0));
  });
});
