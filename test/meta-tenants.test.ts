/**
 * Tenants and the audit log over a real metad, through the CLI, in insecure mode (every caller is
 * an admin): an admin creates tenants with quotas, creates volumes in them, quotas refuse,
 * `volume ls` filters by tenant, a tenant that owns volumes cannot be removed, tenants survive a
 * restart from a snapshot, and `basalt audit` shows who did what. What a tenant-bound caller may
 * see and do is tested with injected identities in packages/meta/src/server/meta-api.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@basalt/client';
import { ErrorCode, GiB } from '@basalt/stdx';
import { MetaCluster } from './lib/meta-cluster.js';
import { ProcessScope, runCli, runCliJson } from './lib/process.js';

const scope = new ProcessScope();
let cluster: MetaCluster;
let metad: string[];

beforeAll(async () => {
  cluster = await MetaCluster.start(scope, { size: 1, flags: ['--snapshot-entries', '5'] });
  await cluster.waitForLeader();
  metad = ['--metad', cluster.endpoints.join(',')];
});

afterAll(async () => {
  cluster?.close();
  await scope.cleanup();
});

type Tenant = { name: string; volumes: number; sizeBytes: number; maxBytes: number; maxVolumes: number };
type Vol = { name: string; tenant: string; sizeBytes: number };

describe('tenants through the CLI', () => {
  it('creates tenants with quotas and volumes in them, and refuses what passes a quota', async () => {
    expect(await runCliJson<Tenant>(['tenant', 'create', 'team-a', '--max-bytes', '2GiB', '--max-volumes', '2', '--json', ...metad])).toMatchObject({ name: 'team-a', maxBytes: 2 * GiB, maxVolumes: 2 });
    await runCliJson(['tenant', 'create', 'team-b', '--json', ...metad]);
    expect(await runCliJson<Vol>(['volume', 'create', 'a1', '--size', '1GiB', '--tenant', 'team-a', '--json', ...metad])).toMatchObject({ tenant: 'team-a' });
    expect(await runCliJson<Vol>(['volume', 'create', 'd1', '--size', '1GiB', '--json', ...metad])).toMatchObject({ tenant: 'default' });
    await runCliJson(['volume', 'create', 'b1', '--size', '8GiB', '--tenant', 'team-b', '--json', ...metad]);

    const tooBig = await runCli(['volume', 'create', 'a2', '--size', '2GiB', '--tenant', 'team-a', ...metad]);
    expect(tooBig.code).not.toBe(0);
    expect(tooBig.stderr).toContain('BASALT_QUOTA_EXCEEDED');
    expect(tooBig.stderr).toContain('basalt tenant ls');
    const grown = await runCli(['volume', 'resize', 'a1', '--size', '3GiB', ...metad]);
    expect(grown.stderr).toContain('BASALT_QUOTA_EXCEEDED');
    await runCliJson(['volume', 'create', 'a2', '--size', '1GiB', '--tenant', 'team-a', '--json', ...metad]);
    const third = await runCli(['volume', 'create', 'a3', '--size', '64MiB', '--tenant', 'team-a', ...metad]);
    expect(third.stderr).toContain('BASALT_QUOTA_EXCEEDED');
    expect((await runCli(['volume', 'create', 'x', '--size', '1GiB', '--tenant', 'nobody', ...metad])).stderr).toContain('BASALT_TENANT_NOT_FOUND');
  });

  it('lists volumes of every tenant for an admin, or of one with --tenant, and tenants with usage', async () => {
    const all = await runCliJson<Vol[]>(['volume', 'ls', '--json', ...metad]);
    expect(all.map((v) => `${v.name}@${v.tenant}`)).toEqual(['a1@team-a', 'a2@team-a', 'b1@team-b', 'd1@default']);
    expect((await runCliJson<Vol[]>(['volume', 'ls', '--tenant', 'team-a', '--json', ...metad])).map((v) => v.name)).toEqual(['a1', 'a2']);
    const table = await runCli(['volume', 'ls', ...metad]);
    expect(table.stdout).toMatch(/NAME\s+TENANT/);
    const tenants = await runCliJson<Tenant[]>(['tenant', 'ls', '--json', ...metad]);
    expect(tenants.map((t) => [t.name, t.volumes, t.sizeBytes])).toEqual([['default', 1, GiB], ['team-a', 2, 2 * GiB], ['team-b', 1, 8 * GiB]]);
  });

  it('removes a tenant only when it owns no volume', async () => {
    const busy = await runCli(['tenant', 'rm', 'team-b', ...metad]);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toContain('BASALT_TENANT_NOT_EMPTY');
    await runCli(['volume', 'rm', 'b1', ...metad]);
    expect((await runCli(['tenant', 'rm', 'team-b', ...metad])).code).toBe(0);
    expect((await runCliJson<Tenant[]>(['tenant', 'ls', '--json', ...metad])).map((t) => t.name)).toEqual(['default', 'team-a']);
  });

  it('changes a tenant quota: a lowered one refuses the next create, a raised one admits it', async () => {
    expect(await runCliJson<Tenant>(['tenant', 'set', 'team-a', '--max-volumes', '1', '--json', ...metad])).toMatchObject({ maxVolumes: 1, maxBytes: 0, volumes: 2 });
    expect((await runCli(['volume', 'create', 'a3', '--size', '64MiB', '--tenant', 'team-a', ...metad])).stderr).toContain('BASALT_QUOTA_EXCEEDED');
    await runCliJson(['tenant', 'set', 'team-a', '--max-volumes', '3', '--max-bytes', '3GiB', '--json', ...metad]);
    await runCliJson(['volume', 'create', 'a3', '--size', '64MiB', '--tenant', 'team-a', '--json', ...metad]);
    await runCli(['volume', 'rm', 'a3', ...metad]);
    await runCliJson(['tenant', 'set', 'team-a', '--max-volumes', '2', '--max-bytes', '2GiB', '--json', ...metad]);
  });

  it('keeps tenants, owners and quotas across a restart from a snapshot', async () => {
    const before = await cluster.status(0);
    expect(before.snapshotIndex).toBeGreaterThan(0);
    await cluster.signal(0, 'SIGTERM');
    const pid = (await cluster.restart(0)).pid;
    expect(pid).not.toBe(before.pid);
    await cluster.waitForLeader();
    expect((await runCliJson<Tenant[]>(['tenant', 'ls', '--json', ...metad])).map((t) => [t.name, t.volumes, t.maxVolumes])).toEqual([['default', 1, 0], ['team-a', 2, 2]]);
    expect((await runCli(['volume', 'create', 'a3', '--size', '64MiB', '--tenant', 'team-a', ...metad])).stderr).toContain('BASALT_QUOTA_EXCEEDED');
  });

  it('shows who did what, when and how it ended in basalt audit, across the restart', async () => {
    type Entry = { atMs: number; role: string; name: string; method: string; target: string; outcome: string };
    const entries = await runCliJson<Entry[]>(['audit', '--json', ...metad]);
    const lines = entries.map((e) => `${e.role}/${e.name} ${e.method} ${e.target} ${e.outcome}`);
    expect(lines).toEqual(expect.arrayContaining([
      'admin/insecure createTenant team-a ok',
      'admin/insecure createVolume a1 ok',
      'admin/insecure createVolume a2 BASALT_QUOTA_EXCEEDED',
      'admin/insecure resizeVolume a1 BASALT_QUOTA_EXCEEDED',
      'admin/insecure deleteTenant team-b BASALT_TENANT_NOT_EMPTY',
      'admin/insecure deleteVolume b1 ok',
      'admin/insecure deleteTenant team-b ok',
    ]));
    expect(lines.some((l) => l.includes('listVolumes'))).toBe(false);
    const recent = await runCliJson<Entry[]>(['audit', '--since', '1s', '--json', ...metad]);
    expect(recent.length).toBeLessThan(entries.length);
    const table = await runCli(['audit', '--limit', '1', ...metad]);
    expect(table.stdout).toMatch(/TIME\s+WHO\s+WHAT\s+TARGET\s+OUTCOME/);
    expect(table.stdout).toContain('admin/insecure');
  });

  it('offers the same through the SDK: tenant methods, tenant on volumes, the audit log', async () => {
    const client = connect({ metad: cluster.endpoints });
    try {
      expect(await client.createTenant('sdk-t', { maxVolumes: 1 })).toEqual({ name: 'sdk-t', maxBytes: 0, maxVolumes: 1, sizeBytes: 0, volumes: 0, createdAtMs: expect.any(Number) as number });
      await expect(client.createTenant('sdk-t')).rejects.toMatchObject({ code: ErrorCode.TenantExists });
      expect(await client.createVolume('sdk-v', { sizeBytes: GiB, tenant: 'sdk-t' })).toMatchObject({ name: 'sdk-v', tenant: 'sdk-t' });
      await expect(client.createVolume('sdk-w', { sizeBytes: GiB, tenant: 'sdk-t' })).rejects.toMatchObject({ code: ErrorCode.QuotaExceeded, details: { quota: 'volumes', max: 1 } });
      expect((await client.listVolumes({ tenant: 'sdk-t' })).map((v) => v.name)).toEqual(['sdk-v']);
      expect((await client.listVolumes({ tenant: 'sdk-t', limit: 10 })).map((v) => v.tenant)).toEqual(['sdk-t']);
      expect((await client.listTenants()).find((t) => t.name === 'sdk-t')).toMatchObject({ volumes: 1, sizeBytes: GiB });
      await expect(client.deleteTenant('sdk-t')).rejects.toMatchObject({ code: ErrorCode.TenantNotEmpty });
      await client.deleteVolume('sdk-v');
      await client.deleteTenant('sdk-t');
      await expect(client.deleteTenant('sdk-t')).rejects.toMatchObject({ code: ErrorCode.TenantNotFound });
      const audit = await client.auditLog({ limit: 3 });
      expect(audit.map((e) => `${e.method} ${e.target} ${e.outcome}`)).toEqual(['deleteVolume sdk-v ok', 'deleteTenant sdk-t ok', `deleteTenant sdk-t ${ErrorCode.TenantNotFound}`]);
    } finally {
      client.close();
    }
  });
});
