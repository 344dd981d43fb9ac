import { limits } from '@basalt/stdx';
import type { ServerState } from './views.js';

/**
 * The replicated state itself: mutable records that only apply handlers change. Kept small
 * (a few numbers and shared strings per extent) so that metad holds thousands of volumes
 * with their extent maps well inside its memory budget.
 */
export interface StateData {
  readonly servers: Map<string, ServerRecord>;
  readonly volumes: Map<string, VolumeRecord>;
  /** Tenants created by an operator, by name; the built-in `defaultTenant` is never stored here. */
  readonly tenants: Map<string, TenantRecord>;
  /**
   * Derived, not in snapshots: each tenant's volumes and the sum of their sizes, by tenant name
   * (`defaultTenant` included; a tenant without volumes may be absent). Invariant: equal to a
   * pass over `volumes`.
   */
  readonly tenantUsage: Map<string, TenantUsage>;
  /** Id of the next volume created; volume ids are never reused. */
  nextVolumeId: number;
  /**
   * Derived, not in snapshots: the extents that are not plainly healthy, by volume name
   * (attention.ts). Invariant: equal to what rebuildAttention computes.
   */
  readonly attention: Map<string, Set<number>>;
  /** Derived, not in snapshots. Invariant: the sum of every volume's `extents.size`. */
  allocatedExtents: number;
  /** Derived, not in snapshots. Invariant: the names of `volumes` in compareStrings order (volume-names.ts). */
  readonly volumeNames: string[];
  /** Derived, not in snapshots: member lists shared between extents (memberList). */
  readonly memberLists: MemberLists;
  /** Serial numbers (hex, upper case) of revoked certificates: every component refuses their holders. */
  readonly revokedSerials: Set<string>;
}

export interface ServerRecord {
  readonly id: string;
  address: string;
  zone: string;
  capacityBytes: number;
  /** Last reported free bytes minus one extent size per replica placed since; never negative. */
  freeBytes: number;
  /** up, down (missed heartbeats) or out (its replicas are rebuilt elsewhere); removed servers are forgotten. */
  state: ServerState;
  /** When `state` last changed (or the server registered). */
  stateSinceMs: number;
  /** An operator asked to move every replica off it; it gets no new ones. */
  draining: boolean;
  /** When a free-space report was last recorded (heartbeats themselves are leader-local). */
  lastHeartbeatMs: number;
  /** Invariant: the number of extent replica sets that contain this server, rebuilding members included. */
  extentCount: number;
}

/** The tenant every volume created without one belongs to; it always exists and has no quotas. */
export const defaultTenant = 'default';

export interface TenantRecord {
  readonly name: string;
  /** Quota on the sum of the tenant's volume sizes; 0: none. */
  maxBytes: number;
  /** Quota on the number of the tenant's volumes; 0: none. */
  maxVolumes: number;
  readonly createdAtMs: number;
}

export interface TenantUsage {
  volumes: number;
  sizeBytes: number;
}

export interface VolumeRecord {
  readonly id: number;
  readonly name: string;
  /** Invariant: `defaultTenant` or the name of a record in `tenants`. */
  readonly tenant: string;
  /** Invariant: a positive multiple of extentSizeBytes. */
  sizeBytes: number;
  readonly extentSizeBytes: number;
  readonly replicationFactor: number;
  /** Invariant: grows by one on every lease grant, never otherwise. */
  generation: number;
  lease: LeaseRecord | null;
  readonly labels: Map<string, string>;
  readonly createdAtMs: number;
  /** An encrypted volume's wrapped data key; null: plaintext. Set at creation, never changed. */
  readonly encryption: EncryptionRecord | null;
  /** Allocated extents by index; an absent index reads as zeros (a clone's: as its parent snapshot). */
  readonly extents: Map<number, ExtentRecord>;
  /** Snapshots and clone parent; null for a volume that never had a snapshot and is no clone (most: one pointer each). */
  snaps: VolumeSnapshots | null;
}

export interface VolumeSnapshots {
  /** Snapshots by name (docs/snapshots.md). Invariant: at most limits.snapshotsPerVolumeMax, ids distinct and below nextSnapshotId. */
  readonly snapshots: Map<string, SnapshotRecord>;
  /** Id of the next snapshot; never reused, since chunk servers name snapshot layers by it. Starts at 1. */
  nextSnapshotId: number;
  /** A clone's source snapshot, read through where the clone never wrote; null for other volumes (and a flattened clone). */
  parent: ParentRecord | null;
}

/** The volume's snapshot state, created on first use. */
export function snapsOf(volume: VolumeRecord): VolumeSnapshots {
  volume.snaps ??= { snapshots: new Map(), nextSnapshotId: 1, parent: null };
  return volume.snaps;
}

export interface SnapshotRecord {
  /** Invariant: 0 while 'requested' (no id is spent on a request that may be cancelled), else in [1, nextSnapshotId). */
  readonly id: number;
  readonly name: string;
  /** When it was recorded: asked for ('requested'), or taken. */
  readonly createdAtMs: number;
  /**
   * 'requested': asked of the lease holder by someone else (apply-holder-requests.ts); the holder
   * turns it into 'creating' when it takes it. 'creating' until the writer took it on every
   * extent in `extents`; only a 'ready' one is read.
   */
  state: SnapshotState;
  /** Who asked (the caller's identity name), set only while 'requested'. */
  readonly requestedBy?: string;
  /** The volume's size when it was taken. */
  readonly sizeBytes: number;
  /** The extents allocated when it was taken (the others read as zeros, or through to a clone's parent). */
  readonly extents: readonly number[];
  /** Invariant: the number of volumes whose parent is this snapshot. */
  clones: number;
  /** Deleted while clones still read through it: hidden from lists, removed with its last clone. */
  hidden: boolean;
}

export type SnapshotState = 'requested' | 'creating' | 'ready';

export interface ParentRecord {
  readonly volumeId: number;
  readonly volumeName: string;
  readonly snapshotId: number;
  readonly snapshotName: string;
  /** A background flatten asked of the clone's lease holder (apply-holder-requests.ts); absent when none is. */
  flatten?: FlattenRequestRecord | undefined;
}

/** A background flatten request and its progress as the holder reports it. */
export interface FlattenRequestRecord {
  /** The caller's identity name. */
  readonly requestedBy: string;
  readonly requestedAtMs: number;
  /** The copy's byte-rate budget; 0: the default (limits.repairBandwidthBytesPerSecDefault). */
  readonly bytesPerSec: number;
  /** Invariant: doneBytes <= totalBytes; both 0 until the holder reports. */
  doneBytes: number;
  totalBytes: number;
}

/** A data key wrapped by a client's KEK: metad stores it and never sees the key. */
export interface EncryptionRecord {
  readonly cipher: string;
  readonly keyId: string;
  /** Base64. */
  readonly wrappedKey: string;
  /**
   * The id of the volume the key was made and wrapped for: the volume's own id, or for a clone
   * its source's (a clone shares its source's key; docs/security.md, "Clones").
   */
  readonly keyVolumeId: number;
}

export interface LeaseRecord {
  readonly clientId: string;
  readonly acquiredAtMs: number;
}

export interface ExtentRecord {
  /**
   * Server ids of the active members, primary first. Invariants: not empty, distinct, every id
   * a registered server.
   */
  replicas: readonly string[];
  /**
   * Members being copied to: they receive foreground writes, serve no reads, count for no
   * acknowledgement and no redundancy. Invariants: distinct, none of them active, every id a
   * registered server; active + rebuilding at most twice the factor (a drain adds before it
   * drops). Usually empty: then the shared `noMembers`.
   */
  rebuilding: readonly string[];
  /**
   * Servers dropped from the set whose copy may still be on disk: preferred targets for a cheap
   * catch-up. Invariants: distinct, disjoint from the members, at most the factor (oldest leave
   * first), every id a registered server that is not out. Usually `noMembers`.
   */
  former: readonly string[];
  /** Invariant: starts at 1 and only grows, by one per change of the set (membership, order, a member's state). */
  epoch: number;
}

/** The one empty member list every extent without rebuilding or former members shares. */
export const noMembers: readonly string[] = Object.freeze([]);

/** The member lists a state shares between its extents (memberList). */
export type MemberLists = Map<string, readonly string[]>;

/**
 * The member list with these ids for an ExtentRecord: frozen, exact-size, and shared by every
 * extent of the state with the same list (most extents of a cluster share a few thousand
 * replica sets; a list of its own costs ~70 bytes per extent). An empty list is `noMembers`.
 * The table keeps at most limits.memberListsSharedMax lists; past that, lists are plain copies.
 */
export function memberList(shared: MemberLists, ids: readonly string[]): readonly string[] {
  if (ids.length === 0) return noMembers;
  const key = ids.join('\n');
  const known = shared.get(key);
  if (known !== undefined) return known;
  const list = Object.freeze(ids.slice());
  if (shared.size < limits.memberListsSharedMax) shared.set(key, list);
  return list;
}

export function emptyStateData(): StateData {
  return { servers: new Map(), volumes: new Map(), tenants: new Map(), tenantUsage: new Map(), nextVolumeId: 1, attention: new Map(), allocatedExtents: 0, volumeNames: [], memberLists: new Map(), revokedSerials: new Set() };
}
