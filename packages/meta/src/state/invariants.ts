import { assert, AssertionError, limits } from '@basalt/stdx';
import { rebuildAttention } from './attention.js';
import { compareStrings } from './order.js';
import { defaultTenant, type ExtentRecord, type StateData, type TenantUsage, type VolumeRecord } from './records.js';
import { rebuildTenantUsage } from './tenant-usage.js';

/**
 * Asserts every invariant of the state (see the field comments in records.ts). O(size of the
 * state): run after decoding a snapshot and in tests, not on every apply.
 */
export function checkInvariants(data: StateData): void {
  assert(data.servers.size <= limits.chunkServersMax, 'too many servers');
  assert(data.volumes.size <= limits.volumesMax, 'too many volumes');
  assert(data.tenants.size <= limits.tenantsMax, 'too many tenants');
  assert(!data.tenants.has(defaultTenant), 'the default tenant is stored');
  for (const [name, tenant] of data.tenants) assert(name === tenant.name, `tenant ${tenant.name} filed under ${name}`);
  const replicaCounts = new Map<string, number>();
  const volumeIds = new Set<number>();
  for (const [name, volume] of data.volumes) {
    assert(name === volume.name, `volume ${volume.name} filed under ${name}`);
    assert(volume.id >= 1 && volume.id < data.nextVolumeId, `volume ${name} has id ${volume.id} outside [1, ${data.nextVolumeId})`);
    assert(!volumeIds.has(volume.id), `volume id ${volume.id} used twice`);
    volumeIds.add(volume.id);
    assert(volume.tenant === defaultTenant || data.tenants.has(volume.tenant), `volume ${name} belongs to unknown tenant ${volume.tenant}`);
    checkVolume(data, volume, replicaCounts);
  }
  checkSnapshots(data);
  for (const [id, server] of data.servers) {
    assert(id === server.id, `server ${server.id} filed under ${id}`);
    assert(server.freeBytes <= server.capacityBytes, `server ${id} has more free bytes than capacity`);
    assert(server.extentCount === (replicaCounts.get(id) ?? 0), `server ${id} counts ${server.extentCount} extents, holds ${replicaCounts.get(id) ?? 0}`);
  }
}

/**
 * Snapshot ids below the volume's next id and distinct; each snapshot's clone count equals the
 * clones naming it; requests to the lease holder as apply-holder-requests.ts lists.
 */
function checkSnapshots(data: StateData): void {
  const clones = new Map<string, number>();
  for (const v of data.volumes.values()) {
    const p = v.snaps?.parent;
    if (p !== undefined && p !== null) clones.set(`${p.volumeName}@${p.snapshotName}`, (clones.get(`${p.volumeName}@${p.snapshotName}`) ?? 0) + 1);
  }
  for (const v of data.volumes.values()) {
    const ids = new Set<number>();
    let requested = 0;
    for (const [name, snap] of v.snaps?.snapshots ?? []) {
      assert(name === snap.name, `snapshot ${snap.name} of ${v.name} filed under ${name}`);
      assert((snap.state === 'requested') === (snap.requestedBy !== undefined), `snapshot ${v.name}@${name} is ${snap.state} and ${snap.requestedBy === undefined ? 'names no' : 'names a'} requester`);
      if (snap.state === 'requested') {
        requested++;
        assert(snap.id === 0 && snap.extents.length === 0 && snap.clones === 0 && !snap.hidden, `requested snapshot ${v.name}@${name} has an id, extents, clones or is hidden`);
        continue;
      }
      assert(snap.id >= 1 && snap.id < v.snaps!.nextSnapshotId && !ids.has(snap.id), `snapshot ${name} of ${v.name} has id ${snap.id}, used or outside [1, ${v.snaps!.nextSnapshotId})`);
      ids.add(snap.id);
      assert(snap.clones === (clones.get(`${v.name}@${name}`) ?? 0), `snapshot ${v.name}@${name} counts ${snap.clones} clones, ${clones.get(`${v.name}@${name}`) ?? 0} name it`);
      assert(!snap.hidden || snap.clones > 0, `snapshot ${v.name}@${name} is hidden without clones`);
    }
    assert((v.snaps?.snapshots.size ?? 0) <= limits.snapshotsPerVolumeMax, `volume ${v.name} has too many snapshots`);
    assert(requested <= limits.snapshotRequestsPerVolumeMax, `volume ${v.name} has ${requested} snapshot requests, above ${limits.snapshotRequestsPerVolumeMax}`);
    const flatten = v.snaps?.parent?.flatten;
    assert(flatten === undefined || flatten.doneBytes <= flatten.totalBytes, `flatten request of ${v.name} reports more bytes done than in all`);
  }
}

/**
 * The derived indexes (sorted names, allocated count, attention index) equal what a pass over
 * the state computes. For tests: a decoded snapshot builds them by that very pass.
 */
export function checkDerived(data: StateData): void {
  const fresh = { ...data, attention: new Map<string, Set<number>>(), allocatedExtents: 0 };
  rebuildAttention(fresh);
  const names = [...data.volumes.keys()].sort(compareStrings);
  assert(names.length === data.volumeNames.length && names.every((n, i) => data.volumeNames[i] === n), 'the sorted volume names are out of step');
  assert(data.allocatedExtents === fresh.allocatedExtents, `allocated extent count ${data.allocatedExtents}, extents held ${fresh.allocatedExtents}`);
  assert(data.attention.size === fresh.attention.size, `attention index has ${data.attention.size} volumes, expected ${fresh.attention.size}`);
  const usage = { ...data, tenantUsage: new Map<string, TenantUsage>() };
  rebuildTenantUsage(usage);
  assert(usage.tenantUsage.size === data.tenantUsage.size, `tenant usage lists ${data.tenantUsage.size} tenants, expected ${usage.tenantUsage.size}`);
  for (const [tenant, u] of usage.tenantUsage) {
    const kept = data.tenantUsage.get(tenant);
    assert(kept?.volumes === u.volumes && kept.sizeBytes === u.sizeBytes, `usage of tenant ${tenant} is out of step`);
  }
  for (const [name, indexes] of fresh.attention) {
    const kept = data.attention.get(name);
    assert(kept !== undefined && kept.size === indexes.size && [...indexes].every((i) => kept.has(i)), `attention index of volume ${name} is out of step`);
  }
}

function checkVolume(data: StateData, volume: VolumeRecord, replicaCounts: Map<string, number>): void {
  const name = volume.name;
  assert(volume.sizeBytes > 0 && volume.sizeBytes % volume.extentSizeBytes === 0, `volume ${name} is not whole extents`);
  assert(volume.replicationFactor >= 1 && volume.replicationFactor <= limits.replicationFactorMax, `volume ${name} has a bad factor`);
  assert(volume.lease === null || volume.generation >= 1, `volume ${name} has a lease at generation 0`);
  assert(volume.labels.size <= limits.labelsPerVolumeMax, `volume ${name} has too many labels`);
  for (const [index, extent] of volume.extents) {
    const problem = extentProblem(data, volume, index, extent);
    if (problem !== null) throw new AssertionError(`extent ${index} of volume ${name} ${problem}`);
    for (const id of extent.replicas) replicaCounts.set(id, (replicaCounts.get(id) ?? 0) + 1);
    for (const id of extent.rebuilding) replicaCounts.set(id, (replicaCounts.get(id) ?? 0) + 1);
  }
}

/**
 * What is wrong with one extent, or null: active members not empty (the primary is the first of
 * them, so it is active), members distinct and registered, no member both active and
 * rebuilding, at most twice the factor in all, `former` bounded by the factor, disjoint from
 * the active members (a rebuilding one may be former: a catch-up target) and free of out servers. Runs per extent, so it builds no strings when all is well.
 */
function extentProblem(data: StateData, volume: VolumeRecord, index: number, extent: ExtentRecord): string | null {
  const { replicas, rebuilding, former, epoch } = extent;
  if (!Number.isSafeInteger(index) || index < 0 || index >= volume.sizeBytes / volume.extentSizeBytes) return 'is out of range';
  if (epoch < 1) return `has epoch ${epoch}`;
  if (replicas.length < 1) return 'has no active replicas';
  if (replicas.length + rebuilding.length > 2 * volume.replicationFactor) return 'has more than twice its factor in members';
  if (former.length > volume.replicationFactor) return 'has more former members than its factor';
  const members = replicas.length === 1 && rebuilding.length === 0 ? replicas : [...replicas, ...rebuilding];
  for (let i = 0; i < members.length; i++) {
    const id = members[i] as string;
    if (!data.servers.has(id)) return `is on unknown server ${id}`;
    if (members.indexOf(id) !== i) return `has server ${id} twice (active and rebuilding members are disjoint)`;
  }
  for (let i = 0; i < former.length; i++) {
    const id = former[i] as string;
    const server = data.servers.get(id);
    if (server === undefined) return `has former member ${id} that is not registered`;
    if (server.state === 'out') return `keeps out server ${id} as a former member`;
    if (former.indexOf(id) !== i || replicas.includes(id)) return `has former member ${id} twice or also as an active member`;
  }
  return null;
}
