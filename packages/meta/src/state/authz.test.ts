import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, insecureIdentity, roles, type Identity } from '@basalt/stdx';
import { metaService } from '@basalt/wire';
import { authorizeCall, authorizeVolume, callRules, raftStreamMethod, tenantForCreate, tenantForListing, type AuthorizedMethod } from './authz.js';

const admin: Identity = { role: 'admin', name: 'ops' };
const clientA: Identity = { role: 'client', name: 'app', tenant: 'a' };
const agentA: Identity = { role: 'agent', name: 'host1', tenant: 'a' };
const agentNoTenant: Identity = { role: 'agent', name: 'host2' };
const chunk: Identity = { role: 'chunkd', name: 'cs-1' };
const member: Identity = { role: 'metad', name: 'm1' };

/** RPC names of proto/meta.proto's Meta service, camelCased as the service definition keys them. */
function protoRpcs(): string[] {
  const proto = readFileSync(new URL('../../../../proto/meta.proto', import.meta.url), 'utf8');
  const service = /service Meta \{([\s\S]*?)\n\}/.exec(proto)?.[1] ?? '';
  return [...service.matchAll(/^\s*rpc (\w+)\(/gm)].map((m) => (m[1] as string).charAt(0).toLowerCase() + (m[1] as string).slice(1));
}

const methods = Object.keys(callRules) as AuthorizedMethod[];
const allowed = (method: AuthorizedMethod, who: Identity): boolean => authorizeCall(method, who, who.name).ok;

describe('the metad call policy', () => {
  it('has a rule for every RPC of the Meta service in proto/meta.proto and in the service definition, and none for unknown ones', () => {
    const rpcs = protoRpcs();
    expect(rpcs.length).toBeGreaterThan(30);
    expect(new Set(rpcs)).toEqual(new Set(Object.keys(metaService)));
    expect(new Set(methods)).toEqual(new Set([...rpcs, raftStreamMethod]));
  });

  it('lets an admin (and so every peer of an insecure cluster) call everything', () => {
    for (const method of methods) expect(allowed(method, admin), method).toBe(true);
    for (const method of methods) expect(allowed(method, insecureIdentity), method).toBe(true);
  });

  it('lets a metad member call only the Raft stream, Status and ListMembers', () => {
    expect(methods.filter((m) => allowed(m, member)).sort()).toEqual(['listMembers', raftStreamMethod, 'status'].sort());
  });

  it('lets a chunk server register, heartbeat and report, but never create, resize or delete volumes or tenants', () => {
    for (const m of ['registerServer', 'heartbeat', 'listRepairTasks', 'promoteReplica', 'dropReplica', 'getExtentMap', 'listServers'] as const) expect(allowed(m, chunk), m).toBe(true);
    for (const m of ['createVolume', 'resizeVolume', 'deleteVolume', 'setVolumeLabel', 'createTenant', 'deleteTenant', 'drainServer', 'removeServer', 'listAudit', raftStreamMethod] as const) {
      expect(allowed(m, chunk), m).toBe(false);
    }
  });

  it('lets a chunk server call every RPC that chunkd calls', () => {
    const source = readdirSync(new URL('../../../chunk/src', import.meta.url), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => readFileSync(new URL(`../../../chunk/src/${f}`, import.meta.url), 'utf8'))
      .join('\n');
    const called = new Set([...source.matchAll(/\.call\('(\w+)'/g)].map((m) => m[1] as string));
    if (source.includes('.listAllVolumes(')) called.add('listVolumes');
    expect(called.size).toBeGreaterThan(5);
    for (const m of called) expect(allowed(m as AuthorizedMethod, chunk), m).toBe(true);
  });

  it('lets a chunk server register, heartbeat and ask for repair tasks as itself only', () => {
    for (const m of ['registerServer', 'heartbeat', 'listRepairTasks'] as const) {
      expect(authorizeCall(m, chunk, 'cs-1').ok).toBe(true);
      const other = authorizeCall(m, chunk, 'cs-2');
      expect(other.ok ? null : other.error.code).toBe(ErrorCode.PermissionDenied);
    }
    expect(authorizeCall('heartbeat', admin, 'cs-2').ok).toBe(true);
  });

  it('keeps tenant-bound roles away from servers, members, tenants and the audit log', () => {
    const clusterWide = methods.filter((m) => callRules[m].roles.every((r) => r !== 'client' && r !== 'agent'));
    expect(clusterWide).toEqual(expect.arrayContaining(['drainServer', 'markServerOut', 'removeServer', 'addMember', 'removeMember', 'transferLeader', 'createTenant', 'deleteTenant', 'setTenantQuota', 'listAudit', 'registerServer', 'heartbeat']));
    for (const who of [clientA, agentA, agentNoTenant]) {
      for (const m of clusterWide) expect(allowed(m, who), `${who.role} ${m}`).toBe(false);
    }
  });

  it('lets an agent open volumes but not create, resize, delete or relabel them', () => {
    for (const m of ['getVolume', 'listVolumes', 'getExtentMap', 'allocateExtent', 'acquireLease', 'releaseLease', 'dropReplica'] as const) expect(allowed(m, agentA), m).toBe(true);
    // As a lease holder it answers requests: takes snapshots, reports and ends a background flatten.
    for (const m of ['createSnapshot', 'commitSnapshot', 'reportFlatten', 'flattenVolume'] as const) expect(allowed(m, agentA), m).toBe(true);
    for (const m of ['createVolume', 'resizeVolume', 'deleteVolume', 'setVolumeLabel'] as const) expect(allowed(m, agentA), m).toBe(false);
  });

  it('audits every mutation that an operator or a tenant makes, and no read', () => {
    const audited = methods.filter((m) => callRules[m].audited).sort();
    expect(audited).toEqual(['addMember', 'cloneVolume', 'createSnapshot', 'createTenant', 'createVolume', 'deleteSnapshot', 'deleteTenant', 'deleteVolume', 'drainServer', 'flattenVolume', 'markServerOut', 'promoteMember', 'removeMember', 'removeServer', 'requestFlatten', 'requestSnapshot', 'resizeVolume', 'revokeCertificate', 'setTenantQuota', 'setVolumeLabel', 'transferLeader']);
  });

  it('scopes every volume-naming call that a tenant-bound role may make', () => {
    for (const m of methods) {
      const r = callRules[m];
      if (r.roles.includes('client') || r.roles.includes('agent')) expect(['volume', 'listing', 'none'], m).toContain(r.scope);
    }
    expect(methods.filter((m) => callRules[m].scope === 'volume').sort()).toEqual(
      ['acquireLease', 'allocateExtent', 'cloneVolume', 'commitSnapshot', 'createSnapshot', 'deleteSnapshot', 'deleteVolume', 'dropReplica', 'flattenVolume', 'getExtentMap', 'getVolume', 'grantSnapshotDrop', 'listSnapshots', 'releaseLease', 'reportFlatten', 'requestFlatten', 'requestSnapshot', 'resizeVolume', 'setVolumeLabel'],
    );
    expect(roles.length).toBe(5);
  });
});

describe('tenant scoping', () => {
  it('lets a client of tenant A reach tenant A volumes only; admins and chunk servers reach any', () => {
    expect(authorizeVolume(clientA, 'v', 'a').ok).toBe(true);
    const refused = authorizeVolume(clientA, 'v', 'b');
    expect(refused.ok ? null : refused.error).toMatchObject({ code: ErrorCode.PermissionDenied, details: { volume: 'v', tenant: 'a', role: 'client' } });
    expect(authorizeVolume(agentA, 'v', 'b').ok).toBe(false);
    expect(authorizeVolume(agentNoTenant, 'v', 'default').ok).toBe(true);
    expect(authorizeVolume(agentNoTenant, 'v', 'a').ok).toBe(false);
    expect(authorizeVolume(admin, 'v', 'b').ok).toBe(true);
    expect(authorizeVolume(chunk, 'v', 'b').ok).toBe(true);
  });

  it('creates a client volume in its own tenant, and an admin volume where asked (default when not)', () => {
    expect(tenantForCreate(clientA, '')).toEqual({ ok: true, value: 'a' });
    expect(tenantForCreate(clientA, 'a')).toEqual({ ok: true, value: 'a' });
    expect(tenantForCreate(clientA, 'b').ok).toBe(false);
    expect(tenantForCreate(admin, '')).toEqual({ ok: true, value: 'default' });
    expect(tenantForCreate(admin, 'b')).toEqual({ ok: true, value: 'b' });
  });

  it('narrows listings to the caller tenant; an admin lists all or filters', () => {
    expect(tenantForListing(clientA, '')).toEqual({ ok: true, value: 'a' });
    expect(tenantForListing(clientA, 'b').ok).toBe(false);
    expect(tenantForListing(agentNoTenant, '')).toEqual({ ok: true, value: 'default' });
    expect(tenantForListing(admin, '')).toEqual({ ok: true, value: undefined });
    expect(tenantForListing(admin, 'b')).toEqual({ ok: true, value: 'b' });
  });
});
