import type { VolumeEncryption } from './crypto/volume-key.js';
import type { VolumeDescriptor } from './volume.js';

/** A volume as metad describes it: the descriptor plus its allocation, lease and labels. */
export interface VolumeInfo extends VolumeDescriptor {
  /** sizeBytes / extentSizeBytes, rounded up. */
  readonly extentCount: number;
  /** Extents with a replica set (extents are thin). */
  readonly allocatedExtents: number;
  /** The writer lease's fencing token: bumped on every grant. */
  readonly generation: number;
  /** Client id of the writer lease holder; '' when none holds it. */
  readonly leaseHolder: string;
  readonly leaseAcquiredAtMs: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAtMs: number;
  /**
   * Bytes its extent files take on disk, summed over every replica (so about replicationFactor
   * times the data), as the chunk servers last reported them (counted every 10 s, reported in
   * heartbeats): holes and trimmed blocks take none.
   */
  readonly storedBytes: number;
  /** An encrypted volume's cipher, KEK id and wrapped data key; undefined: plaintext. */
  readonly encryption: VolumeEncryption | undefined;
  /** The tenant that owns the volume ("default" for volumes created without one). */
  readonly tenant: string;
  /** A clone's source snapshot (it reads through to it where it never wrote); undefined for other volumes. */
  readonly parent: { readonly volume: string; readonly snapshot: string; readonly volumeId: number; readonly snapshotId: number } | undefined;
  /** Snapshots `listSnapshots` shows. */
  readonly snapshotCount: number;
  /** Snapshots asked of the lease holder and not taken yet, oldest request first (docs/snapshots.md). */
  readonly requestedSnapshots: readonly string[];
  /** A background flatten asked of the clone's lease holder, with its progress; undefined when none is. */
  readonly flatten: FlattenRequestInfo | undefined;
}

/** A background flatten request (BasaltClient.requestFlatten) as metad records it. */
export interface FlattenRequestInfo {
  /** The identity that asked (`role/name[@tenant]`). */
  readonly requestedBy: string;
  readonly requestedAtMs: number;
  /** The copy's byte-rate budget; 0: the default (limits.repairBandwidthBytesPerSecDefault). */
  readonly bytesPerSec: number;
  /** As the holder last reported: bytes of the clone scanned, of all (0 of 0 before it started). */
  readonly doneBytes: number;
  readonly totalBytes: number;
}

/** A tenant with its quotas (0: no limit) and what its volumes use now. */
export interface TenantInfo {
  readonly name: string;
  readonly maxBytes: number;
  readonly maxVolumes: number;
  readonly sizeBytes: number;
  readonly volumes: number;
  /** 0 for the built-in default tenant. */
  readonly createdAtMs: number;
}

/** One entry of metad's audit log: who did what, when, and how it ended. */
export interface AuditEntry {
  readonly atMs: number;
  readonly role: string;
  readonly name: string;
  /** '' for callers that act for no tenant. */
  readonly tenant: string;
  readonly method: string;
  readonly target: string;
  /** "ok" or an error code. */
  readonly outcome: string;
}

/** A snapshot as metad records it (docs/snapshots.md). */
export interface SnapshotInfo {
  readonly volume: string;
  readonly volumeId: number;
  /** The chunk servers' name for it; never reused within the volume. */
  readonly id: number;
  readonly name: string;
  readonly createdAtMs: number;
  /**
   * 'requested' while asked of the lease holder (id 0, no extents yet); 'creating' until its writer
   * took it on every extent; only a 'ready' one can be read, cloned or diffed.
   */
  readonly state: 'requested' | 'creating' | 'ready';
  /** Who asked the lease holder for it, while 'requested'; '' otherwise. */
  readonly requestedBy: string;
  /** The volume's size when it was taken. */
  readonly sizeBytes: number;
  /** Extents allocated when it was taken. */
  readonly extents: readonly number[];
  readonly clones: number;
  /** Deleted, kept only while clones read through it. */
  readonly hidden: boolean;
  /** Of deleteSnapshot's answer: the record is gone (false while clones keep it). */
  readonly removed: boolean;
}

/** A writer lease as granted: the holder and the generation that fences older holders. */
export interface Lease {
  readonly holder: string;
  readonly generation: number;
}

export type ServerState = 'up' | 'down' | 'out' | 'draining' | 'removed';

/** A chunk server as metad's leader knows it. */
export interface ServerInfo {
  readonly id: string;
  /** host:port of its data-plane listener. */
  readonly address: string;
  readonly zone: string;
  readonly state: ServerState;
  readonly capacityBytes: number;
  readonly freeBytes: number;
  /** Extent replicas placed on it. */
  readonly extentCount: number;
  /** The leader's clock (ms since the Unix epoch) at its last heartbeat. */
  readonly lastHeartbeatMs: number;
  /** Copies it runs as a primary (its last heartbeat, as the leader heard it). */
  readonly repair: { readonly copiesRunning: number; readonly bytesLeft: number; readonly bytesCopied: number; readonly rateBytesPerSec: number };
  /** When it last finished a scrub pass (ms since the Unix epoch); 0: not yet. */
  readonly scrubLastPassMs: number;
  readonly scrubRepairedBlocks: number;
}

/** The cluster's redundancy: how many extents lack replicas and how long repair will take. */
export interface RepairStatus {
  readonly allocatedExtents: number;
  /** Extents with fewer active members than their factor. */
  readonly degradedExtents: number;
  /** Of those, extents with one active member left. */
  readonly criticalExtents: number;
  /** Degraded extents waiting for a down server to return or go out. */
  readonly waitingExtents: number;
  /** Members being rebuilt (copies planned or running). */
  readonly rebuildingReplicas: number;
  readonly bytesLeft: number;
  readonly rateBytesPerSec: number;
  /** bytesLeft / rate; 0 when nothing is left or the rate is 0. */
  readonly etaSeconds: number;
}

export interface DegradedExtent {
  readonly volume: string;
  readonly index: number;
  readonly epoch: number;
  readonly replicationFactor: number;
  /** Server ids of the replica set. */
  readonly replicas: readonly string[];
  /** Members on servers that are up. */
  readonly upReplicas: number;
}

/** Where one allocated extent of a volume lives. */
export interface ExtentPlacement {
  readonly index: number;
  readonly epoch: number;
  /** Server id of the primary. */
  readonly primary: string;
  /** Every member, primary first. */
  readonly replicas: readonly { readonly serverId: string; readonly address: string; readonly rebuilding: boolean }[];
}

export type MemberRole = 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'learner';

/** One metad member's own view of itself; `error` when it did not answer. */
export interface MemberStatus {
  readonly id: string;
  readonly address: string;
  /** '' when the member did not answer. */
  readonly role: MemberRole | '';
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly pid: number;
  readonly leaderId: string;
  readonly leaderAddress: string;
  /** Hash of the applied state at appliedIndex (hex). */
  readonly stateHash: string;
  readonly snapshotIndex: number;
  readonly error?: { readonly code: string; readonly message: string };
}

/** A member of the metad Raft group. */
export interface Member {
  readonly id: string;
  readonly address: string;
  readonly learner: boolean;
}
