import { assert } from '@basalt/stdx';
import type { StateData, TenantUsage } from './records.js';

/**
 * The derived per-tenant usage (StateData.tenantUsage) that quota checks read: kept by volume
 * create, resize and delete, rebuilt by a pass over the volumes after a snapshot is decoded.
 */

export function usageOf(data: StateData, tenant: string): TenantUsage {
  return data.tenantUsage.get(tenant) ?? { volumes: 0, sizeBytes: 0 };
}

/** Adds (or, negative, removes) volumes and bytes to a tenant's usage; an emptied tenant leaves the map. */
export function addUsage(data: StateData, tenant: string, volumes: number, sizeBytes: number): void {
  const usage = usageOf(data, tenant);
  const next = { volumes: usage.volumes + volumes, sizeBytes: usage.sizeBytes + sizeBytes };
  assert(next.volumes >= 0 && next.sizeBytes >= 0, `usage of tenant ${tenant} went negative`);
  if (next.volumes === 0) {
    assert(next.sizeBytes === 0, `tenant ${tenant} has no volumes but ${next.sizeBytes} bytes`);
    data.tenantUsage.delete(tenant);
  } else {
    data.tenantUsage.set(tenant, next);
  }
}

export function rebuildTenantUsage(data: StateData): void {
  data.tenantUsage.clear();
  for (const volume of data.volumes.values()) addUsage(data, volume.tenant, 1, volume.sizeBytes);
}
