/**
 * What queries and command results return: plain, immutable snapshots of the state,
 * safe to serialize and to keep after later commands change the state.
 */

/**
 * up; down (missed heartbeats: its replicas stay, down is not out); out (down past the
 * down-out interval or by an operator: its replicas are rebuilt elsewhere). Draining is a flag
 * beside the state; a removed server is forgotten.
 */
export type ServerState = 'up' | 'down' | 'out';

export interface ServerView {
  readonly id: string;
  /** host:port of the chunk server's data-plane listener. */
  readonly address: string;
  readonly zone: string;
  readonly capacityBytes: number;
  /** Reported at the last heartbeat, minus one extent size per replica placed since. */
  readonly freeBytes: number;
  readonly state: ServerState;
  /** When `state` last changed (or the server registered). */
  readonly stateSinceMs: number;
  /** A draining server receives no new replicas; the planner moves its replicas off. */
  readonly draining: boolean;
  readonly lastHeartbeatMs: number;
  /** Extent replica sets this server is in, as an active or rebuilding member. */
  readonly extentCount: number;
}

export interface WriterLeaseView {
  readonly clientId: string;
  readonly acquiredAtMs: number;
}

/** One page of a listing by name (listVolumesPage). */
export interface VolumePage {
  readonly volumes: VolumeView[];
  /** The last name of this page when more follow, else ''. */
  readonly nextAfter: string;
}

export interface VolumeView {
  /** Never reused, so chunk servers can tell a deleted volume's extents from a new one's. */
  readonly id: number;
  readonly name: string;
  readonly sizeBytes: number;
  readonly extentSizeBytes: number;
  /** sizeBytes / extentSizeBytes. */
  readonly extentCount: number;
  /** Extents with a replica set (extents are thin: allocated on first write). */
  readonly allocatedExtents: number;
  readonly replicationFactor: number;
  /** The fencing token: bumped on every writer lease grant. */
  readonly generation: number;
  /** The writer holding the lease for `generation`, or null. */
  readonly lease: WriterLeaseView | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAtMs: number;
  /** An encrypted volume's wrapped data key (base64 in wrappedKey); null: plaintext. */
  readonly encryption: EncryptionView | null;
  /** The tenant that owns the volume (`default` for volumes created without one). */
  readonly tenant: string;
  /** A clone's source snapshot; null for other volumes. */
  readonly parent: ParentView | null;
  /** Snapshots listed (hidden ones, kept for clones, not counted). */
  readonly snapshotCount: number;
  /** Snapshots asked of the lease holder and not taken yet, oldest request first (apply-holder-requests.ts). */
  readonly requestedSnapshots: readonly string[];
  /** A background flatten asked of the lease holder, with its progress; null when none is. */
  readonly flatten: FlattenRequestView | null;
}

export interface FlattenRequestView {
  readonly requestedBy: string;
  readonly requestedAtMs: number;
  /** 0: the default budget. */
  readonly bytesPerSec: number;
  readonly doneBytes: number;
  readonly totalBytes: number;
}

export interface EncryptionView {
  readonly cipher: string;
  readonly keyId: string;
  readonly wrappedKey: string;
  /** The volume id the key is bound to: this volume's, or a clone's source's. */
  readonly keyVolumeId: number;
}

export interface TenantView {
  readonly name: string;
  /** Quotas (0: no limit): the sum of the tenant's volume sizes, and its number of volumes. */
  readonly maxBytes: number;
  readonly maxVolumes: number;
  /** Usage now. */
  readonly volumes: number;
  readonly sizeBytes: number;
  /** 0 for the built-in default tenant. */
  readonly createdAtMs: number;
}

export interface ParentView {
  readonly volume: string;
  readonly volumeId: number;
  readonly snapshot: string;
  readonly snapshotId: number;
}

export interface SnapshotView {
  readonly volume: string;
  readonly volumeId: number;
  /** Never reused within the volume; the chunk servers' name for it. */
  readonly id: number;
  readonly name: string;
  readonly createdAtMs: number;
  /** 'requested': asked of the lease holder, id 0 and no extents until it takes it. */
  readonly state: 'requested' | 'creating' | 'ready';
  /** Who asked, while 'requested'; '' otherwise. */
  readonly requestedBy: string;
  readonly sizeBytes: number;
  /** Extents allocated when it was taken, ascending. */
  readonly extents: readonly number[];
  readonly clones: number;
  /** deleteSnapshot: the record is gone (the chunk servers' layers may be dropped); false while clones keep it. */
  readonly removed: boolean;
  /** Deleted, kept only while clones read through it. */
  readonly hidden: boolean;
}

export interface ReplicaView {
  readonly serverId: string;
  readonly address: string;
  /** Receives foreground writes and the primary's copy; serves no reads, counts for no acknowledgement. */
  readonly rebuilding: boolean;
}

export interface ExtentView {
  readonly index: number;
  /** Bumped on every change of the replica set; chunk servers refuse requests with an older one. */
  readonly epoch: number;
  /** Server id of the primary; always replicas[0].serverId. */
  readonly primary: string;
  /** Every member, primary first, active members before rebuilding ones. */
  readonly replicas: readonly ReplicaView[];
}

export interface ExtentMapView {
  readonly volume: string;
  readonly volumeId: number;
  readonly generation: number;
  readonly extentSizeBytes: number;
  readonly extentCount: number;
  /** Allocated extents in [fromIndex, fromIndex + count), by index; missing ones read as zeros. */
  readonly extents: readonly ExtentView[];
}

export interface AllocateExtentView extends ExtentView {
  /** False when the extent already had a replica set (the command is idempotent). */
  readonly created: boolean;
}

export interface DegradedExtentView {
  readonly volume: string;
  readonly volumeId: number;
  readonly index: number;
  readonly epoch: number;
  readonly replicationFactor: number;
  /** Active members, primary first. */
  readonly replicas: readonly string[];
  /** Active members on servers that are up; an extent is degraded when this is below the factor. */
  readonly upReplicas: number;
}

/** What the metrics gauges show of the state (this member's applied view). */
export interface ClusterCounts {
  readonly serversUp: number;
  readonly serversDown: number;
  readonly serversOut: number;
  readonly serversDraining: number;
  readonly volumes: number;
  readonly allocatedExtents: number;
  readonly degradedExtents: number;
  /** Rebuilding members over all extents. */
  readonly rebuildingReplicas: number;
}

/** Redundancy of the whole cluster (GetRepairStatus without the leader-local progress). */
export interface RedundancyCounts {
  readonly allocatedExtents: number;
  /** Fewer active members on up servers than the factor. */
  readonly degradedExtents: number;
  /** Of those, at most one active member on an up server. */
  readonly criticalExtents: number;
  readonly rebuildingReplicas: number;
  /** Degraded, nothing rebuilding, and a member or former member merely down: waiting for it (down is not out). */
  readonly waitingExtents: number;
}

/** An extent the asking primary leads with rebuilding members to copy to (ListRepairTasks). */
export interface RepairTaskView {
  readonly volume: string;
  readonly volumeId: number;
  readonly extentSizeBytes: number;
  readonly extent: ExtentView;
}

export interface DegradedReport {
  /** All degraded extents in the cluster. */
  readonly total: number;
  /** The first ones, by volume name then index, at most the requested limit. */
  readonly extents: readonly DegradedExtentView[];
}

export interface ExtentRef {
  readonly volume: string;
  readonly volumeId: number;
  readonly index: number;
  readonly epoch: number;
}

export interface LeaseView {
  readonly volume: string;
  readonly clientId: string;
  /** The fencing token the writer sends with its requests. */
  readonly generation: number;
  readonly acquiredAtMs: number;
  /** The client whose lease a forced takeover ended, if any. */
  readonly fenced: string | null;
}

export interface LabelView {
  readonly volume: string;
  readonly key: string;
  /** The value now (null: absent). */
  readonly value: string | null;
  /** The value before this command (null: absent). */
  readonly previous: string | null;
}

/** The deny list after a revocation. */
export interface RevocationsView {
  readonly serials: readonly string[];
}

export interface ReleaseView {
  readonly volume: string;
  readonly generation: number;
}
