import { ErrorCode, type Identity, type Role } from '@basalt/stdx';
import type { MetaMethodName } from '@basalt/wire';
import { defaultTenant } from './records.js';
import { fail, ok, type Result } from './result.js';

/**
 * Who may call what on metad: one rule per RPC of the Meta service (and the Raft stream), and the
 * tenant scoping of tenant-bound callers. Pure: the server asks it with the caller's identity
 * (`TransportSecurity.peerIdentityOfCall`, server/grpc-server.ts) before it runs a handler, and again with a volume's tenant.
 *
 * Invariants (authz.test.ts checks each over every rule):
 * - every RPC of proto/meta.proto's Meta service has a rule, and admin may call every one;
 * - a metad member may call only the Raft stream, Status and ListMembers;
 * - a chunk server never creates, resizes or deletes a volume or a tenant, calls
 *   RegisterServer, Heartbeat and ListRepairTasks for its own server id only, and may call every
 *   RPC chunkd's meta link calls (its census lists every volume to reclaim deleted ones);
 * - a client or an agent (tenant-bound roles) never changes servers, members or tenants and never
 *   reads the audit log; it reaches only its own tenant's volumes (`scope: 'volume'` and
 *   `'listing'`), and an agent never creates, resizes, deletes or relabels one;
 * - every mutation an operator or a tenant makes (`audited`) is written to the audit log.
 */

/**
 * How a call's request is scoped: 'volume' names one volume that a tenant-bound caller must own;
 * 'listing' lists volumes or tenants, narrowed to the caller's tenant; 'self' names a chunk
 * server that must be the calling one; 'none' is cluster-wide.
 */
export type CallScope = 'none' | 'volume' | 'listing' | 'self';

export interface CallRule {
  readonly roles: readonly Role[];
  readonly scope: CallScope;
  /** Written to the audit log with its outcome. */
  readonly audited: boolean;
}

/** A Raft transport connection (packages/wire raft-frames.ts), checked like an RPC. */
export const raftStreamMethod = 'raftStream';
export type AuthorizedMethod = MetaMethodName | typeof raftStreamMethod;

const everyone: readonly Role[] = ['admin', 'client', 'agent', 'chunkd', 'metad'];
const tenantUsers: readonly Role[] = ['admin', 'client', 'agent'];

const rule = (roles: readonly Role[], scope: CallScope = 'none', audited = false): CallRule => ({ roles, scope, audited });

export const callRules: { readonly [M in AuthorizedMethod]: CallRule } = {
  createVolume: rule(['admin', 'client'], 'none', true),
  listVolumes: rule([...tenantUsers, 'chunkd'], 'listing'),
  getVolume: rule(tenantUsers, 'volume'),
  resizeVolume: rule(['admin', 'client'], 'volume', true),
  deleteVolume: rule(['admin', 'client'], 'volume', true),
  setVolumeLabel: rule(['admin', 'client'], 'volume', true),
  getExtentMap: rule([...tenantUsers, 'chunkd'], 'volume'),
  allocateExtent: rule(tenantUsers, 'volume'),
  dropReplica: rule([...tenantUsers, 'chunkd'], 'volume'),
  promoteReplica: rule(['admin', 'chunkd']),
  listRepairTasks: rule(['admin', 'chunkd'], 'self'),
  acquireLease: rule(tenantUsers, 'volume'),
  releaseLease: rule(tenantUsers, 'volume'),
  registerServer: rule(['admin', 'chunkd'], 'self'),
  heartbeat: rule(['admin', 'chunkd'], 'self'),
  listServers: rule(['admin', 'chunkd']),
  listDegradedExtents: rule(['admin']),
  drainServer: rule(['admin'], 'none', true),
  markServerOut: rule(['admin'], 'none', true),
  removeServer: rule(['admin'], 'none', true),
  getRepairStatus: rule(['admin']),
  status: rule(everyone),
  listMembers: rule(everyone),
  addMember: rule(['admin'], 'none', true),
  removeMember: rule(['admin'], 'none', true),
  promoteMember: rule(['admin'], 'none', true),
  transferLeader: rule(['admin'], 'none', true),
  createTenant: rule(['admin'], 'none', true),
  listTenants: rule(tenantUsers, 'listing'),
  deleteTenant: rule(['admin'], 'none', true),
  setTenantQuota: rule(['admin'], 'none', true),
  listAudit: rule(['admin']),
  revokeCertificate: rule(['admin'], 'none', true),
  createSnapshot: rule(tenantUsers, 'volume', true),
  commitSnapshot: rule(tenantUsers, 'volume'),
  deleteSnapshot: rule(['admin', 'client'], 'volume', true),
  listSnapshots: rule([...tenantUsers, 'chunkd'], 'volume'),
  // Whoever may see the volume: the grant only confirms what metad already deleted.
  grantSnapshotDrop: rule(tenantUsers, 'volume'),
  cloneVolume: rule(['admin', 'client'], 'volume', true),
  // The lease holder ends a background flatten itself, and an agent may be that holder.
  flattenVolume: rule(tenantUsers, 'volume', true),
  requestSnapshot: rule(tenantUsers, 'volume', true),
  requestFlatten: rule(['admin', 'client'], 'volume', true),
  reportFlatten: rule(tenantUsers, 'volume'),
  listRevocations: rule([...tenantUsers, 'chunkd']),
  raftStream: rule(['admin', 'metad']),
};

/** Roles that act for one tenant and see only its volumes. */
export function isTenantBound(caller: Identity): boolean {
  return caller.role === 'client' || caller.role === 'agent';
}

/** The tenant a tenant-bound caller acts for (an agent certificate without one: the default tenant); undefined for other roles. */
export function tenantOf(caller: Identity): string | undefined {
  return isTenantBound(caller) ? (caller.tenant ?? defaultTenant) : undefined;
}

/** May the caller call this method at all (its role)? For 'self' methods, `serverId` is the server named. */
export function authorizeCall(method: AuthorizedMethod, caller: Identity, serverId?: string): Result<CallRule> {
  const r = callRules[method];
  if (!r.roles.includes(caller.role)) return denied(caller, `a ${caller.role} may not call ${method}`, { method });
  if (r.scope === 'self' && caller.role === 'chunkd' && serverId !== caller.name) {
    return denied(caller, `chunk server ${caller.name} may call ${method} for itself only, not for ${JSON.stringify(serverId ?? '')}`, { method, serverId });
  }
  return ok(r);
}

/** May the caller reach a volume of `volumeTenant`? Tenant-bound callers only their own tenant's. */
export function authorizeVolume(caller: Identity, volume: string, volumeTenant: string): Result<true> {
  const own = tenantOf(caller);
  if (own === undefined || own === volumeTenant) return ok(true);
  return denied(caller, `volume ${volume} belongs to another tenant than ${own}`, { volume });
}

/**
 * The tenant a new volume goes to: an admin's choice ('' = default); a client's own tenant, which
 * it may also name, but no other.
 */
export function tenantForCreate(caller: Identity, requested: string): Result<string> {
  const own = tenantOf(caller);
  if (own === undefined) return ok(requested === '' ? defaultTenant : requested);
  if (requested === '' || requested === own) return ok(own);
  return denied(caller, `a client of tenant ${own} may not create volumes in tenant ${requested}`, { requested });
}

/** Which tenant a listing shows: a tenant-bound caller's own (asking for another is refused); an admin's filter, or all (undefined). */
export function tenantForListing(caller: Identity, requested: string): Result<string | undefined> {
  const own = tenantOf(caller);
  if (own === undefined) return ok(requested === '' ? undefined : requested);
  if (requested === '' || requested === own) return ok(own);
  return denied(caller, `a ${caller.role} of tenant ${own} may not list tenant ${requested}`, { requested });
}

function denied(caller: Identity, message: string, details: Record<string, unknown>): Result<never> {
  return fail(ErrorCode.PermissionDenied, message, { ...details, role: caller.role, name: caller.name, ...(caller.tenant !== undefined && { tenant: caller.tenant }) });
}
