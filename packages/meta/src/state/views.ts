/**
 * What queries and command results return: plain, immutable snapshots of the state,
 * safe to serialize and to keep after later commands change the state.
 */

export type ServerState = 'up' | 'down';

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
  /** A draining server keeps its replicas but receives no new ones. */
  readonly draining: boolean;
  readonly lastHeartbeatMs: number;
  /** Extent replicas placed on this server. */
  readonly extentCount: number;
}

export interface WriterLeaseView {
  readonly clientId: string;
  readonly acquiredAtMs: number;
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
}

export interface ReplicaView {
  readonly serverId: string;
  readonly address: string;
}

export interface ExtentView {
  readonly index: number;
  /** Bumped on every change of the replica set; chunk servers refuse requests with an older one. */
  readonly epoch: number;
  /** Server id of the primary; always replicas[0].serverId. */
  readonly primary: string;
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
  readonly replicas: readonly string[];
  /** Replicas on servers that are up; an extent is degraded when this is below the factor. */
  readonly upReplicas: number;
}

/** What the metrics gauges show of the state (this member's applied view). */
export interface ClusterCounts {
  readonly serversUp: number;
  readonly serversDown: number;
  readonly serversDraining: number;
  readonly volumes: number;
  readonly allocatedExtents: number;
  readonly degradedExtents: number;
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

export interface ReleaseView {
  readonly volume: string;
  readonly generation: number;
}
