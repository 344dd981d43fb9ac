import { ErrorCode, limits } from '@basalt/stdx';
import type { CreateTenantCommand, DeleteTenantCommand, SetTenantQuotaCommand } from './commands.js';
import { defaultTenant, type StateData, type TenantRecord, type VolumeRecord } from './records.js';
import { fail, ok, type Result } from './result.js';
import { usageOf } from './tenant-usage.js';
import { tenantView } from './view-of.js';
import type { TenantView } from './views.js';

/**
 * Tenants and their quotas. Invariants: every volume's tenant is `defaultTenant` or a stored
 * tenant; a stored tenant is never `defaultTenant`; a tenant is forgotten only when it owns no
 * volume. Quotas are checked at create and growth only: lowering one never touches volumes, so
 * usage stays within the quotas except after a quota was lowered below it.
 */

export function applyCreateTenant(data: StateData, cmd: CreateTenantCommand): Result<TenantView> {
  if (cmd.name === defaultTenant || data.tenants.has(cmd.name)) {
    return fail(ErrorCode.TenantExists, `a tenant named ${JSON.stringify(cmd.name)} already exists`, { tenant: cmd.name });
  }
  if (data.tenants.size >= limits.tenantsMax) {
    return fail(ErrorCode.LimitExceeded, `the cluster already has ${limits.tenantsMax} tenants, the most allowed`, { max: limits.tenantsMax });
  }
  const tenant: TenantRecord = { name: cmd.name, maxBytes: cmd.maxBytes, maxVolumes: cmd.maxVolumes, createdAtMs: cmd.nowMs };
  data.tenants.set(tenant.name, tenant);
  return ok(tenantView(data, tenant.name, tenant));
}

export function applyDeleteTenant(data: StateData, cmd: DeleteTenantCommand): Result<TenantView> {
  if (cmd.name === defaultTenant) return fail(ErrorCode.InvalidArgument, 'the default tenant always exists and cannot be removed', { tenant: cmd.name });
  const found = findTenant(data, cmd.name);
  if (!found.ok) return found;
  const usage = usageOf(data, cmd.name);
  if (usage.volumes > 0) {
    return fail(ErrorCode.TenantNotEmpty, `tenant ${cmd.name} still owns ${usage.volumes} volume(s); delete them first`, { tenant: cmd.name, volumes: usage.volumes });
  }
  const view = tenantView(data, cmd.name, found.value);
  data.tenants.delete(cmd.name);
  return ok(view);
}

export function applySetTenantQuota(data: StateData, cmd: SetTenantQuotaCommand): Result<TenantView> {
  if (cmd.name === defaultTenant) return fail(ErrorCode.InvalidArgument, 'the default tenant has no quotas: create a tenant for volumes that need them', { tenant: cmd.name });
  const found = findTenant(data, cmd.name);
  if (!found.ok) return found;
  const tenant = found.value as TenantRecord;
  tenant.maxBytes = cmd.maxBytes;
  tenant.maxVolumes = cmd.maxVolumes;
  return ok(tenantView(data, tenant.name, tenant));
}

/** The tenant's record; undefined for the built-in default tenant. */
export function findTenant(data: StateData, name: string): Result<TenantRecord | undefined> {
  if (name === defaultTenant) return ok(undefined);
  const tenant = data.tenants.get(name);
  return tenant === undefined ? fail(ErrorCode.TenantNotFound, `no tenant named ${JSON.stringify(name)}`, { tenant: name }) : ok(tenant);
}

/** The refusal when `tenant` may not take `volumes` more volumes and `sizeBytes` more bytes, or null. */
export function refuseOverQuota(data: StateData, tenant: TenantRecord | undefined, volumes: number, sizeBytes: number): Result<never> | null {
  if (tenant === undefined) return null;
  const usage = usageOf(data, tenant.name);
  if (tenant.maxVolumes > 0 && usage.volumes + volumes > tenant.maxVolumes) {
    return fail(ErrorCode.QuotaExceeded, `tenant ${tenant.name} has ${usage.volumes} of its ${tenant.maxVolumes} volumes`, {
      tenant: tenant.name, quota: 'volumes', used: usage.volumes, max: tenant.maxVolumes,
    });
  }
  if (tenant.maxBytes > 0 && usage.sizeBytes + sizeBytes > tenant.maxBytes) {
    return fail(ErrorCode.QuotaExceeded, `tenant ${tenant.name} uses ${usage.sizeBytes} of its ${tenant.maxBytes} bytes; ${sizeBytes} more do not fit`, {
      tenant: tenant.name, quota: 'bytes', used: usage.sizeBytes, max: tenant.maxBytes, requested: sizeBytes,
    });
  }
  return null;
}

/** Refuses a tenant-bound caller's command on another tenant's volume. */
export function refuseOtherTenant(volume: VolumeRecord, requireTenant: string | undefined): Result<never> | null {
  if (requireTenant === undefined || requireTenant === volume.tenant) return null;
  return fail(ErrorCode.PermissionDenied, `volume ${volume.name} belongs to another tenant than ${requireTenant}`, { volume: volume.name, tenant: requireTenant });
}
