import { limits } from '@basalt/stdx';
import { defaultTenant, type EncryptionRecord } from './records.js';
import type {
  AllocateExtentView,
  ExtentView,
  LabelView,
  LeaseView,
  RevocationsView,
  ReleaseView,
  ServerView,
  TenantView,
  SnapshotView,
  VolumeView,
} from './views.js';

/**
 * The commands of the metadata state machine, one per Raft log entry. Each carries everything
 * apply() needs, including the time (`nowMs`, proposed by the leader) where time is recorded,
 * so that every replica computes the same state from the same log. Defaults are resolved
 * before proposing (see createVolumeCommand): a default that changes between versions must
 * not change what an old log entry means.
 */
export type Command =
  | RegisterServerCommand
  | HeartbeatCommand
  | MarkServerDownCommand
  | MarkServerUpCommand
  | SetServerDrainingCommand
  | RemoveServerCommand
  | MarkServerOutCommand
  | CreateVolumeCommand
  | ResizeVolumeCommand
  | DeleteVolumeCommand
  | SetLabelCommand
  | AllocateExtentCommand
  | DropReplicaCommand
  | AddRebuildingCommand
  | PromoteReplicaCommand
  | AcquireLeaseCommand
  | ReleaseLeaseCommand
  | CreateTenantCommand
  | DeleteTenantCommand
  | SetTenantQuotaCommand
  | RevokeCertificateCommand
  | CreateSnapshotCommand
  | CommitSnapshotCommand
  | DeleteSnapshotCommand
  | CloneVolumeCommand
  | FlattenVolumeCommand
  | RequestSnapshotCommand
  | RequestFlattenCommand
  | ReportFlattenCommand;

/** Asks the lease holder of volume `name` for snapshot `snapshot`: recorded as 'requested' (apply-holder-requests.ts). */
export interface RequestSnapshotCommand {
  readonly type: 'requestSnapshot';
  readonly name: string;
  readonly snapshot: string;
  /** The caller's identity name. */
  readonly requestedBy: string;
  readonly nowMs: number;
}

/** Asks the lease holder of clone `name` to flatten it in the background, or (`cancel`) withdraws that request. */
export interface RequestFlattenCommand {
  readonly type: 'requestFlatten';
  readonly name: string;
  readonly requestedBy: string;
  /** The copy's byte-rate budget; 0: the default. */
  readonly bytesPerSec: number;
  readonly cancel?: boolean;
  readonly nowMs: number;
}

/** The holder at lease `generation` reports how far its background flatten of clone `name` got. */
export interface ReportFlattenCommand {
  readonly type: 'reportFlatten';
  readonly name: string;
  readonly generation: number;
  readonly doneBytes: number;
  readonly totalBytes: number;
}

/** Ends a clone's read-through after its writer copied every block it needs from the parent; a no-op for other volumes. */
export interface FlattenVolumeCommand {
  readonly type: 'flattenVolume';
  readonly name: string;
}

/**
 * Records snapshot `snapshot` of volume `name` as 'creating', with the next snapshot id and the
 * extents allocated now. With `requested` it only takes a 'requested' snapshot of that name (the
 * holder answering a request): refused when there is none (the request was cancelled).
 */
export interface CreateSnapshotCommand {
  readonly type: 'createSnapshot';
  readonly name: string;
  readonly snapshot: string;
  readonly nowMs: number;
  readonly requested?: boolean;
}

/** Marks a snapshot 'ready': the writer took it on every extent it lists. */
export interface CommitSnapshotCommand {
  readonly type: 'commitSnapshot';
  readonly name: string;
  readonly snapshot: string;
}

/** Removes a snapshot's record, or hides it while clones read through it. With `requested`: only a 'requested' one (a cancel). */
export interface DeleteSnapshotCommand {
  readonly type: 'deleteSnapshot';
  readonly name: string;
  readonly snapshot: string;
  readonly requested?: boolean;
}

/**
 * Creates volume `clone` from the ready snapshot `snapshot` of volume `name`. With `shareKey` a
 * clone of an encrypted volume gets its source's wrapped data key (bound to the source's id);
 * entries written before that existed have no `shareKey` and refuse an encrypted source.
 */
export interface CloneVolumeCommand {
  readonly type: 'cloneVolume';
  readonly name: string;
  readonly snapshot: string;
  readonly clone: string;
  readonly nowMs: number;
  readonly shareKey?: boolean;
}

export type CommandType = Command['type'];

/** Adds or updates a chunk server; a (re)registering server is up. */
export interface RegisterServerCommand {
  readonly type: 'registerServer';
  readonly serverId: string;
  readonly address: string;
  readonly zone: string;
  readonly capacityBytes: number;
  readonly freeBytes: number;
  readonly nowMs: number;
}

/**
 * Records a chunk server's free space and when it was reported. Does not change its state.
 * The leader proposes one only when the free space moved by more than
 * limits.metaFreeBytesReportDeltaBytes (heartbeats themselves are leader-local).
 */
export interface HeartbeatCommand {
  readonly type: 'heartbeat';
  readonly serverId: string;
  readonly freeBytes: number;
  readonly nowMs: number;
}

/** The leader decided the server is down (missed heartbeats). Replica sets are unchanged. */
export interface MarkServerDownCommand {
  readonly type: 'markServerDown';
  readonly serverId: string;
  readonly nowMs: number;
}

export interface MarkServerUpCommand {
  readonly type: 'markServerUp';
  readonly serverId: string;
  readonly nowMs: number;
}

/** A draining server gets no new replicas; false ends draining. */
export interface SetServerDrainingCommand {
  readonly type: 'setServerDraining';
  readonly serverId: string;
  readonly draining: boolean;
}

/**
 * Forgets a server. Without `dropFromSets` (every entry written before the field existed) it is
 * refused while the server is in any set. With it, it is refused only while the server is the
 * only active member of an extent; otherwise it is dropped from every set (and `former` list)
 * it is in, each such extent's epoch + 1.
 */
export interface RemoveServerCommand {
  readonly type: 'removeServer';
  readonly serverId: string;
  readonly dropFromSets?: boolean;
}

/**
 * The server is out: down past the down-out interval (the leader decides), or at once by an
 * operator. Its replicas are rebuilt elsewhere (the planner drops it from each set); it leaves
 * every `former` list. It stays out until it registers again.
 */
export interface MarkServerOutCommand {
  readonly type: 'markServerOut';
  readonly serverId: string;
  readonly nowMs: number;
}

/**
 * Creates a volume owned by `tenant` (absent: the default tenant, as in every entry written
 * before tenants existed), refused past the tenant's quotas. An encrypted one carries its wrapped
 * data key (all three of `cipher`, `keyId` and `wrappedKey`, base64) and usually `expectedId`,
 * the id the client bound the key to: the command is refused when the volume would get another.
 * All four are absent in entries written before encryption existed and for plaintext volumes.
 */
export interface CreateVolumeCommand {
  readonly type: 'createVolume';
  readonly name: string;
  readonly sizeBytes: number;
  readonly extentSizeBytes: number;
  readonly replicationFactor: number;
  readonly nowMs: number;
  readonly cipher?: string;
  readonly keyId?: string;
  readonly wrappedKey?: string;
  readonly expectedId?: number;
  readonly tenant?: string;
}

/**
 * Grows a volume; the same size is a no-op. A smaller one is refused unless `force`, and then
 * still while any extent at or past the new end is allocated: a resize never discards data.
 * Growth past the owning tenant's byte quota is refused. With `requireTenant` (a tenant-bound
 * caller's), refused unless the volume belongs to that tenant.
 */
export interface ResizeVolumeCommand {
  readonly type: 'resizeVolume';
  readonly name: string;
  readonly sizeBytes: number;
  readonly force?: boolean;
  readonly requireTenant?: string;
}

/**
 * Deletes a volume and its extent map; refused while a writer holds the lease unless forced.
 * With `requireTenant`, refused unless the volume belongs to that tenant.
 */
export interface DeleteVolumeCommand {
  readonly type: 'deleteVolume';
  readonly name: string;
  readonly force: boolean;
  readonly requireTenant?: string;
}

/** Creates a tenant with quotas (0: no limit); `default` always exists and cannot be created. */
export interface CreateTenantCommand {
  readonly type: 'createTenant';
  readonly name: string;
  readonly maxBytes: number;
  readonly maxVolumes: number;
  readonly nowMs: number;
}

/**
 * New quotas (0: no limit) for a stored tenant. A quota below the tenant's usage refuses later
 * creates and growth only; no volume changes.
 */
export interface SetTenantQuotaCommand {
  readonly type: 'setTenantQuota';
  readonly name: string;
  readonly maxBytes: number;
  readonly maxVolumes: number;
}

/** Forgets a tenant; refused while it owns a volume, and for `default`. */
export interface DeleteTenantCommand {
  readonly type: 'deleteTenant';
  readonly name: string;
}

/**
 * Sets (value: string) or removes (value: null) a label. With `expect` it is a compare-and-set:
 * applied only if the current value equals `expect` (null: the label is absent).
 */
export interface SetLabelCommand {
  readonly type: 'setLabel';
  readonly name: string;
  readonly key: string;
  readonly value: string | null;
  readonly expect?: string | null;
}

/**
 * Gives an extent a replica set on its first write; idempotent. With fewer eligible servers than
 * the volume's factor it is refused, unless `minReplicas` is given and that many are eligible:
 * then the extent is placed degraded on all of them. Absent in entries written before the field
 * existed, which keeps their replay exact.
 */
export interface AllocateExtentCommand {
  readonly type: 'allocateExtent';
  readonly name: string;
  readonly index: number;
  readonly minReplicas?: number;
}

/**
 * Removes a member (active or rebuilding) from an extent's set, bumping the epoch; refused on a
 * stale epoch and for the last active member. A dropped server goes to `former` unless it is out
 * or was rebuilding. `reason` (what the reporter or the planner saw) is absent in entries written
 * before the field existed.
 */
export interface DropReplicaCommand {
  readonly type: 'dropReplica';
  readonly name: string;
  readonly index: number;
  readonly serverId: string;
  readonly expectedEpoch: number;
  readonly reason?: string;
}

/** Adds a rebuilding member on an up, not draining server outside the set; epoch + 1. */
export interface AddRebuildingCommand {
  readonly type: 'addRebuilding';
  readonly name: string;
  readonly index: number;
  readonly serverId: string;
  readonly expectedEpoch: number;
}

/** A rebuilding member whose copy completed at expectedEpoch becomes the last active member; epoch + 1. */
export interface PromoteReplicaCommand {
  readonly type: 'promoteReplica';
  readonly name: string;
  readonly index: number;
  readonly serverId: string;
  readonly expectedEpoch: number;
}

/** Grants the writer lease (bumping the generation); `force` takes it from another writer. */
export interface AcquireLeaseCommand {
  readonly type: 'acquireLease';
  readonly name: string;
  readonly clientId: string;
  readonly force: boolean;
  readonly nowMs: number;
}

export interface ReleaseLeaseCommand {
  readonly type: 'releaseLease';
  readonly name: string;
  readonly clientId: string;
  readonly generation: number;
}

/** Puts a certificate serial on the deny list (idempotent); there is no un-revoke: issue a new certificate. */
export interface RevokeCertificateCommand {
  readonly type: 'revokeCertificate';
  /** Hex, upper case, no leading zeros, no colons (normalized before proposing). */
  readonly serial: string;
}

/** What a successful apply() of each command type returns. */
export interface CommandValues {
  registerServer: ServerView;
  heartbeat: ServerView;
  markServerDown: ServerView;
  markServerUp: ServerView;
  setServerDraining: ServerView;
  removeServer: ServerView;
  markServerOut: ServerView;
  createVolume: VolumeView;
  resizeVolume: VolumeView;
  deleteVolume: VolumeView;
  setLabel: LabelView;
  allocateExtent: AllocateExtentView;
  dropReplica: ExtentView;
  addRebuilding: ExtentView;
  promoteReplica: ExtentView;
  acquireLease: LeaseView;
  releaseLease: ReleaseView;
  createTenant: TenantView;
  deleteTenant: TenantView;
  setTenantQuota: TenantView;
  revokeCertificate: RevocationsView;
  createSnapshot: SnapshotView;
  commitSnapshot: SnapshotView;
  deleteSnapshot: SnapshotView;
  cloneVolume: VolumeView;
  flattenVolume: VolumeView;
  requestSnapshot: SnapshotView;
  requestFlatten: VolumeView;
  reportFlatten: VolumeView;
}

export type CommandValue<C extends Command> = CommandValues[C['type']];

export interface CreateVolumeInput {
  readonly name: string;
  readonly sizeBytes: number;
  readonly extentSizeBytes?: number;
  readonly replicationFactor?: number;
  readonly nowMs: number;
  readonly encryption?: Omit<EncryptionRecord, 'keyVolumeId'>;
  readonly expectedId?: number;
  /** Absent or `default`: the default tenant (the command then carries no tenant). */
  readonly tenant?: string;
}

/** A createVolume command with today's defaults written into it. */
export function createVolumeCommand(input: CreateVolumeInput): CreateVolumeCommand {
  return {
    type: 'createVolume',
    name: input.name,
    sizeBytes: input.sizeBytes,
    extentSizeBytes: input.extentSizeBytes ?? limits.extentSizeBytesDefault,
    replicationFactor: input.replicationFactor ?? limits.replicationFactorDefault,
    nowMs: input.nowMs,
    ...(input.encryption !== undefined && { cipher: input.encryption.cipher, keyId: input.encryption.keyId, wrappedKey: input.encryption.wrappedKey }),
    ...(input.expectedId !== undefined && { expectedId: input.expectedId }),
    ...(input.tenant !== undefined && input.tenant !== defaultTenant && { tenant: input.tenant }),
  };
}
