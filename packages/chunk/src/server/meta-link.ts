import { BasaltError, ErrorCode, isBasaltError, limits } from '@basalt/stdx';
import { MetaClient, type pb, type ReplicaRef, type TransportSecurity } from '@basalt/wire';
import type { Credentials } from './credentials.js';

/**
 * What chunkd needs from metad, as a seam: the cross-process tests and `basalt up` use
 * MetadLink (gRPC through MetaClient); a server started without metad uses none and cannot
 * drop replicas (a dead secondary then fails writes with BASALT_UNAVAILABLE).
 */
export interface ExtentPlacement {
  readonly epoch: number;
  /** Primary first. */
  readonly replicas: readonly ReplicaRef[];
}

export interface ServerReport {
  readonly id: string;
  readonly address: string;
  readonly zone: string;
  readonly capacityBytes: number;
  readonly freeBytes: number;
  /** The rebuild executor's copies, as of this heartbeat (repair/rebuild-executor.ts). */
  readonly repair?: RepairProgress;
  /** The scrubber's facts (repair/scrubber.ts). */
  readonly scrub?: ScrubFacts;
  /** Bytes on disk of each volume's extent files here, by volume id. */
  readonly volumeStoredBytes?: ReadonlyMap<number, number>;
}

/** A primary's copies in flight (proto RepairProgress). */
export interface RepairProgress {
  readonly copiesRunning: number;
  readonly bytesLeft: number;
  readonly bytesCopied: number;
  readonly rateBytesPerSec: number;
}

export interface ScrubFacts {
  /** Wall clock (ms since the Unix epoch) when the last pass finished; 0: never. */
  readonly lastPassMs: number;
  /** Blocks found bad and repaired since the process started. */
  readonly repairedBlocks: number;
}

/** An extent this server leads with rebuilding members to copy to (proto RepairTask). */
export interface RepairTask {
  readonly volumeId: number;
  readonly index: number;
  readonly extentSizeBytes: number;
  /** The epoch of the set below; the copy is promoted at it, and any other epoch aborts the task. */
  readonly epoch: number;
  /** Primary (this server) first, rebuilding members flagged (ReplicaRef.rebuilding). */
  readonly members: readonly ReplicaRef[];
}

/** What a reporter saw when it asks metad to drop a member (proto DropReplicaRequest.reason). */
export type DropReason = 'unreachable' | 'timeout' | 'io' | 'no_space' | 'checksum';

/** What metad holds, for the reclaimer (reclaim.ts). */
export interface VolumeCensus {
  readonly liveVolumeIds: ReadonlySet<number>;
  /** Ids below it that are not live belong to deleted volumes (ids are never reused). */
  readonly nextVolumeId: number;
  /** Registered chunk servers: id -> address. */
  readonly servers: ReadonlyMap<string, string>;
  /** Live volumes' names by id (the snapshot check asks metad by name). */
  readonly volumeNames: ReadonlyMap<number, string>;
}

export interface MetaLink {
  register(report: ServerReport): Promise<void>;
  /** Returns the heartbeat interval metad asks for, in ms (0: keep the default). */
  heartbeat(report: ServerReport): Promise<number>;
  /** Removes serverId from the extent's set if the epoch is still expectedEpoch; the new placement. */
  dropReplica(volumeId: number, index: number, serverId: string, expectedEpoch: number, reason?: DropReason): Promise<ExtentPlacement>;
  /** Reports that the copy to the rebuilding member serverId completed at expectedEpoch; the new placement. */
  promoteReplica(volumeId: number, index: number, serverId: string, expectedEpoch: number): Promise<ExtentPlacement>;
  /** The extents serverId leads that have rebuilding members, at most `limit`. */
  repairTasks(serverId: string, limit: number): Promise<RepairTask[]>;
  /** The extent's current placement; undefined when metad has no such volume or extent. */
  placement(volumeId: number, index: number): Promise<ExtentPlacement | undefined>;
  /** Live volumes and registered servers, read linearizably. */
  census(): Promise<VolumeCensus>;
  /** The ids of a volume's snapshots metad holds ('creating' and hidden ones too). */
  snapshotIds(volume: string): Promise<ReadonlySet<number>>;
  close(): void;
}

/**
 * Whether a heartbeat's answer (the server's state at metad) means this server must register
 * again: down, or out. metad marks a server out when it was silent past the down-out interval,
 * also one that was alive but cut off or hung; once it is heard again it must come back, since it
 * may still be the last active member of extents that only it can be the copy source for.
 */
export function registersAgain(state: string): boolean {
  return state === 'down' || state === 'out';
}

/**
 * MetaLink over gRPC. With `credentials`, what metad's replies carry for capabilities is learned
 * as it arrives: its key and this server's peer capability (register, heartbeat) and the signed
 * state of every extent placement (drop, promote, repair tasks, placement lookups).
 */
export class MetadLink implements MetaLink {
  private readonly client: MetaClient;
  private readonly volumeNames = new Map<number, string>();

  constructor(endpoints: readonly string[], private readonly security: TransportSecurity, private readonly credentials?: Credentials) {
    this.client = new MetaClient({ endpoints, security });
  }

  async register(r: ServerReport): Promise<void> {
    const reply = await this.client.call('registerServer', { id: r.id, address: r.address, zone: r.zone, capacityBytes: r.capacityBytes, freeBytes: r.freeBytes });
    this.credentials?.learn(reply);
  }

  async heartbeat(r: ServerReport): Promise<number> {
    // Short attempts: a heartbeat stuck at a stalled leader is sent to the next leader within that
    // leader's grace period (ChunkServerLiveness), so a leader change marks no healthy server down.
    const scrub = r.scrub === undefined ? {} : { scrubLastPassMs: r.scrub.lastPassMs, scrubRepairedBlocks: r.scrub.repairedBlocks };
    const volumes = [...(r.volumeStoredBytes ?? new Map<number, number>())].map(([volumeId, bytes]) => ({ volumeId, bytes }));
    const reply = await this.client.call('heartbeat', { id: r.id, freeBytes: r.freeBytes, ...(r.repair === undefined ? {} : { repair: r.repair }), ...scrub, volumes }, { timeoutMs: limits.chunkHeartbeatCallTimeoutMs, attemptTimeoutMs: limits.chunkHeartbeatAttemptTimeoutMs });
    // metad's deny list comes with every heartbeat: revoked peers are refused from then on.
    this.security.setRevokedSerials(reply.revokedSerials);
    this.credentials?.learn(reply);
    if (registersAgain(reply.state ?? '')) await this.register(r);
    return Number(reply.intervalMs ?? 0);
  }

  async dropReplica(volumeId: number, index: number, serverId: string, expectedEpoch: number, reason?: DropReason): Promise<ExtentPlacement> {
    const volume = await this.volumeName(volumeId);
    const reply = await this.client.call('dropReplica', { volume, index, serverId, expectedEpoch, reason: reason ?? '' }, { timeoutMs: limits.chunkDropReplicaTimeoutMs });
    if (reply.extent == null) throw new BasaltError(ErrorCode.Protocol, 'DropReplica returned no extent');
    return this.placementOf(reply.extent);
  }

  async promoteReplica(volumeId: number, index: number, serverId: string, expectedEpoch: number): Promise<ExtentPlacement> {
    const volume = await this.volumeName(volumeId);
    const reply = await this.client.call('promoteReplica', { volume, index, serverId, expectedEpoch }, { timeoutMs: limits.chunkDropReplicaTimeoutMs });
    if (reply.extent == null) throw new BasaltError(ErrorCode.Protocol, 'PromoteReplica returned no extent');
    return this.placementOf(reply.extent);
  }

  async repairTasks(serverId: string, limit: number): Promise<RepairTask[]> {
    const reply = await this.client.call('listRepairTasks', { serverId, limit });
    return (reply.tasks ?? []).map((t) => {
      const volumeId = Number(t.volumeId ?? 0);
      this.volumeNames.set(volumeId, t.volume ?? '');
      const members = (t.replicas ?? []).map(toReplicaRef);
      this.credentials?.rememberState(t.signedState);
      return { volumeId, index: Number(t.index ?? 0), extentSizeBytes: Number(t.extentSizeBytes ?? 0), epoch: Number(t.epoch ?? 0), members };
    });
  }

  async placement(volumeId: number, index: number): Promise<ExtentPlacement | undefined> {
    const volume = await this.volumeName(volumeId).catch((err: unknown) => {
      if (isBasaltError(err, ErrorCode.VolumeNotFound)) return undefined;
      throw err;
    });
    if (volume === undefined) return undefined;
    const reply = await this.client.call('getExtentMap', { volume, fromIndex: index, count: 1 });
    const ext = (reply.extents ?? []).find((e) => Number(e.index ?? 0) === index);
    return ext === undefined ? undefined : this.placementOf(ext);
  }

  async census(): Promise<VolumeCensus> {
    const [volumes, servers] = await Promise.all([this.client.listAllVolumes(), this.client.call('listServers', {})]);
    const nextVolumeId = Number(volumes.nextVolumeId ?? 0);
    if (nextVolumeId === 0) throw new BasaltError(ErrorCode.Protocol, 'ListVolumes did not say the next volume id (a metad older than this chunkd?)');
    return {
      liveVolumeIds: new Set((volumes.volumes ?? []).map((v) => Number(v.id ?? 0))),
      nextVolumeId,
      servers: new Map((servers.servers ?? []).map((s) => [s.id ?? '', s.address ?? ''])),
      volumeNames: new Map((volumes.volumes ?? []).map((v) => [Number(v.id ?? 0), v.name ?? ''])),
    };
  }

  async snapshotIds(volume: string): Promise<ReadonlySet<number>> {
    const reply = await this.client.call('listSnapshots', { volume, includeHidden: true });
    return new Set(reply.snapshots.map((s) => Number(s.id ?? 0)));
  }

  close(): void {
    this.client.close();
  }

  private placementOf(ext: pb.IExtent): ExtentPlacement {
    this.credentials?.rememberState(ext.signedState);
    return toPlacement(ext);
  }

  /** metad names volumes in DropReplica; the data plane carries volume ids. */
  private async volumeName(volumeId: number): Promise<string> {
    const known = this.volumeNames.get(volumeId);
    if (known !== undefined) return known;
    const reply = await this.client.listAllVolumes();
    for (const v of reply.volumes) this.volumeNames.set(Number(v.id ?? 0), v.name ?? '');
    const name = this.volumeNames.get(volumeId);
    if (name === undefined) throw new BasaltError(ErrorCode.VolumeNotFound, `metad knows no volume with id ${volumeId}`, { volumeId });
    return name;
  }
}

function toPlacement(ext: pb.IExtent): ExtentPlacement {
  const all = (ext.replicas ?? []).map(toReplicaRef);
  const primary = all.filter((r) => r.serverId === ext.primary);
  return { epoch: Number(ext.epoch ?? 0), replicas: [...primary, ...all.filter((r) => r.serverId !== ext.primary)] };
}

function toReplicaRef(r: pb.IReplica): ReplicaRef {
  const serverId = r.serverId ?? '';
  const address = r.address ?? '';
  return r.rebuilding === true ? { serverId, address, rebuilding: true } : { serverId, address };
}
