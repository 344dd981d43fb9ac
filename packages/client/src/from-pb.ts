import { BasaltError, ErrorCode } from '@basalt/stdx';
import type { pb } from '@basalt/wire';
import type { AuditEntry, DegradedExtent, ExtentPlacement, TenantInfo, Member, MemberRole, MemberStatus, RepairStatus, ServerInfo, ServerState, SnapshotInfo, VolumeInfo } from './cluster-types.js';

/** Conversions from metad's protobuf replies to the SDK's types: the only place pb types are read. */

export function volumeFromPb(v: pb.IVolume | null | undefined): VolumeInfo {
  if (v === null || v === undefined) throw new BasaltError(ErrorCode.Protocol, 'metad replied without a volume');
  return {
    id: Number(v.id ?? 0), name: v.name ?? '', sizeBytes: Number(v.sizeBytes ?? 0), extentSizeBytes: Number(v.extentSizeBytes ?? 0),
    replicationFactor: v.replicationFactor ?? 0, extentCount: Number(v.extentCount ?? 0), allocatedExtents: Number(v.allocatedExtents ?? 0),
    generation: Number(v.generation ?? 0), leaseHolder: v.leaseHolder ?? '', leaseAcquiredAtMs: Number(v.leaseAcquiredAtMs ?? 0),
    labels: { ...(v.labels ?? {}) }, createdAtMs: Number(v.createdAtMs ?? 0), storedBytes: Number(v.storedBytes ?? 0),
    encryption: v.encryption == null ? undefined : { cipher: v.encryption.cipher ?? '', keyId: v.encryption.keyId ?? '', wrappedKey: v.encryption.wrappedKey ?? new Uint8Array(), keyVolumeId: Number(v.encryption.keyVolumeId ?? 0) || Number(v.id ?? 0) },
    tenant: v.tenant || 'default',
    parent: v.parentVolume ? { volume: v.parentVolume, snapshot: v.parentSnapshot ?? '', volumeId: Number(v.parentVolumeId ?? 0), snapshotId: Number(v.parentSnapshotId ?? 0) } : undefined,
    snapshotCount: v.snapshotCount ?? 0,
    requestedSnapshots: [...(v.requestedSnapshots ?? [])],
    flatten: v.flatten == null ? undefined : {
      requestedBy: v.flatten.requestedBy ?? '', requestedAtMs: Number(v.flatten.requestedAtMs ?? 0), bytesPerSec: Number(v.flatten.bytesPerSec ?? 0),
      doneBytes: Number(v.flatten.doneBytes ?? 0), totalBytes: Number(v.flatten.totalBytes ?? 0),
    },
  };
}

export function snapshotFromPb(s: pb.ISnapshot | null | undefined): SnapshotInfo {
  if (s === null || s === undefined) throw new BasaltError(ErrorCode.Protocol, 'metad replied without a snapshot');
  return {
    volume: s.volume ?? '', volumeId: Number(s.volumeId ?? 0), id: Number(s.id ?? 0), name: s.name ?? '', createdAtMs: Number(s.createdAtMs ?? 0),
    state: s.state === 'ready' || s.state === 'requested' ? s.state : 'creating', requestedBy: s.requestedBy ?? '', sizeBytes: Number(s.sizeBytes ?? 0), extents: (s.extents ?? []).map(Number), clones: s.clones ?? 0, hidden: s.hidden === true, removed: s.removed === true,
  };
}

export function tenantFromPb(t: pb.ITenant | null | undefined): TenantInfo {
  if (t === null || t === undefined) throw new BasaltError(ErrorCode.Protocol, 'metad replied without a tenant');
  return {
    name: t.name ?? '', maxBytes: Number(t.maxBytes ?? 0), maxVolumes: t.maxVolumes ?? 0, sizeBytes: Number(t.sizeBytes ?? 0), volumes: t.volumes ?? 0, createdAtMs: Number(t.createdAtMs ?? 0),
  };
}

export function auditEntryFromPb(e: pb.IAuditEntry): AuditEntry {
  return { atMs: Number(e.atMs ?? 0), role: e.role ?? '', name: e.name ?? '', tenant: e.tenant ?? '', method: e.method ?? '', target: e.target ?? '', outcome: e.outcome ?? '' };
}

const serverStates: ReadonlySet<string> = new Set<ServerState>(['up', 'down', 'out', 'draining', 'removed']);

export function serverFromPb(s: pb.IChunkServer | null | undefined): ServerInfo {
  if (s === null || s === undefined) throw new BasaltError(ErrorCode.Protocol, 'metad replied without a chunk server');
  const state = s.state ?? '';
  return {
    id: s.id ?? '', address: s.address ?? '', zone: s.zone ?? '',
    // A server metad no longer lists (RemoveServer) comes back with an empty state.
    state: serverStates.has(state) ? state as ServerState : 'removed',
    capacityBytes: Number(s.capacityBytes ?? 0), freeBytes: Number(s.freeBytes ?? 0), extentCount: Number(s.extentCount ?? 0), lastHeartbeatMs: Number(s.lastHeartbeatMs ?? 0),
    repair: {
      copiesRunning: s.repair?.copiesRunning ?? 0, bytesLeft: Number(s.repair?.bytesLeft ?? 0),
      bytesCopied: Number(s.repair?.bytesCopied ?? 0), rateBytesPerSec: Number(s.repair?.rateBytesPerSec ?? 0),
    },
    scrubLastPassMs: Number(s.scrubLastPassMs ?? 0), scrubRepairedBlocks: Number(s.scrubRepairedBlocks ?? 0),
  };
}

export function repairFromPb(r: pb.IRepairStatusReply): RepairStatus {
  return {
    allocatedExtents: Number(r.allocatedExtents ?? 0), degradedExtents: Number(r.degradedExtents ?? 0), criticalExtents: Number(r.criticalExtents ?? 0),
    waitingExtents: Number(r.waitingExtents ?? 0), rebuildingReplicas: Number(r.rebuildingReplicas ?? 0), bytesLeft: Number(r.bytesLeft ?? 0),
    rateBytesPerSec: Number(r.rateBytesPerSec ?? 0), etaSeconds: Number(r.etaSeconds ?? 0),
  };
}

export function degradedFromPb(e: pb.IDegradedExtent): DegradedExtent {
  return {
    volume: e.volume ?? '', index: Number(e.index ?? 0), epoch: Number(e.epoch ?? 0), replicationFactor: e.replicationFactor ?? 0,
    replicas: [...(e.replicas ?? [])], upReplicas: e.upReplicas ?? 0,
  };
}

export function placementFromPb(e: pb.IExtent): ExtentPlacement {
  const primary = e.primary ?? '';
  const replicas = (e.replicas ?? []).map((r) => ({ serverId: r.serverId ?? '', address: r.address ?? '', rebuilding: r.rebuilding === true }));
  const at = replicas.findIndex((r) => r.serverId === primary);
  if (at > 0) replicas.unshift(...replicas.splice(at, 1));
  return { index: Number(e.index ?? 0), epoch: Number(e.epoch ?? 0), primary, replicas };
}

const roles: ReadonlySet<string> = new Set<MemberRole>(['leader', 'follower', 'candidate', 'pre-candidate', 'learner']);

export function memberStatusFromPb(s: pb.IStatusReply): MemberStatus {
  const role = s.role ?? '';
  return {
    id: s.id ?? '', address: s.address ?? '', role: roles.has(role) ? role as MemberRole : '', term: Number(s.term ?? 0),
    commitIndex: Number(s.commitIndex ?? 0), appliedIndex: Number(s.appliedIndex ?? 0), pid: s.pid ?? 0, leaderId: s.leaderId ?? '',
    leaderAddress: s.leaderAddress ?? '', stateHash: s.stateHash ?? '', snapshotIndex: Number(s.snapshotIndex ?? 0),
  };
}

export function memberFromPb(m: pb.IMember): Member {
  return { id: m.id ?? '', address: m.address ?? '', learner: m.learner === true };
}
