import type { pb } from '@basalt/wire';
import type { ExtentView, LeaseView, RepairTaskView, ServerView, SnapshotView, TenantView, VolumeView } from '../state/index.js';
import type { HeartbeatFacts } from './chunk-server-liveness.js';
import type { MemberInfo } from './members.js';

/** State machine views -> protobuf replies (proto/meta.proto). */

export function volumeToPb(v: VolumeView): pb.IVolume {
  return {
    id: v.id, name: v.name, sizeBytes: v.sizeBytes, extentSizeBytes: v.extentSizeBytes,
    replicationFactor: v.replicationFactor, extentCount: v.extentCount, generation: v.generation,
    leaseHolder: v.lease?.clientId ?? '', leaseAcquiredAtMs: v.lease?.acquiredAtMs ?? 0,
    labels: { ...v.labels }, allocatedExtents: v.allocatedExtents, createdAtMs: v.createdAtMs, tenant: v.tenant,
    ...(v.encryption !== null && { encryption: { cipher: v.encryption.cipher, keyId: v.encryption.keyId, wrappedKey: Buffer.from(v.encryption.wrappedKey, 'base64'), keyVolumeId: v.encryption.keyVolumeId } }),
    parentVolume: v.parent?.volume ?? '', parentSnapshot: v.parent?.snapshot ?? '', parentVolumeId: v.parent?.volumeId ?? 0, parentSnapshotId: v.parent?.snapshotId ?? 0,
    snapshotCount: v.snapshotCount,
    requestedSnapshots: [...v.requestedSnapshots],
    ...(v.flatten !== null && { flatten: { ...v.flatten } }),
  };
}

export function snapshotToPb(s: SnapshotView): pb.ISnapshot {
  return {
    volume: s.volume, volumeId: s.volumeId, id: s.id, name: s.name, createdAtMs: s.createdAtMs, state: s.state,
    sizeBytes: s.sizeBytes, extents: [...s.extents], clones: s.clones, removed: s.removed, hidden: s.hidden, requestedBy: s.requestedBy,
  };
}

export function tenantToPb(t: TenantView): pb.ITenant {
  return { name: t.name, maxBytes: t.maxBytes, maxVolumes: t.maxVolumes, sizeBytes: t.sizeBytes, volumes: t.volumes, createdAtMs: t.createdAtMs };
}

export function extentToPb(e: ExtentView): pb.IExtent {
  return { index: e.index, epoch: e.epoch, primary: e.primary, replicas: e.replicas.map((r) => ({ serverId: r.serverId, address: r.address, rebuilding: r.rebuilding })) };
}

export function repairTaskToPb(t: RepairTaskView): pb.IRepairTask {
  const e = extentToPb(t.extent);
  return { volume: t.volume, volumeId: t.volumeId, index: t.extent.index, extentSizeBytes: t.extentSizeBytes, epoch: t.extent.epoch, replicas: e.replicas ?? [] };
}

/** The wire state: "draining" for an up server being drained (proto ChunkServer.state). */
export function wireServerState(s: ServerView): string {
  return s.state === 'up' && s.draining ? 'draining' : s.state;
}

/** A server with the leader's facts from its last heartbeat, when this member has them. */
export function serverToPb(s: ServerView, facts?: HeartbeatFacts): pb.IChunkServer {
  return {
    id: s.id, address: s.address, zone: s.zone, capacityBytes: s.capacityBytes, freeBytes: facts?.freeBytes ?? s.freeBytes,
    state: wireServerState(s), lastHeartbeatMs: facts?.heardAtMs ?? s.lastHeartbeatMs, extentCount: s.extentCount, draining: s.draining,
    ...(facts !== undefined && {
      repair: { copiesRunning: facts.copiesRunning, bytesLeft: facts.bytesLeft, bytesCopied: facts.bytesCopied, rateBytesPerSec: facts.rateBytesPerSec },
      scrubLastPassMs: facts.scrubLastPassMs,
      scrubRepairedBlocks: facts.scrubRepairedBlocks,
    }),
  };
}

export function leaseToPb(l: LeaseView): pb.ILeaseReply {
  return { generation: l.generation, holder: l.clientId };
}

export function membersToPb(members: readonly MemberInfo[]): pb.IListMembersReply {
  return { members: members.map((m) => ({ id: m.id, address: m.address, learner: m.learner })) };
}
