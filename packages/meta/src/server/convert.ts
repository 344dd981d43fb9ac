import type { pb } from '@basalt/wire';
import type { ExtentView, LeaseView, ServerView, VolumeView } from '../state/index.js';
import type { MemberInfo } from './members.js';

/** State machine views -> protobuf replies (proto/meta.proto). */

export function volumeToPb(v: VolumeView): pb.IVolume {
  return {
    id: v.id, name: v.name, sizeBytes: v.sizeBytes, extentSizeBytes: v.extentSizeBytes,
    replicationFactor: v.replicationFactor, extentCount: v.extentCount, generation: v.generation,
    leaseHolder: v.lease?.clientId ?? '', leaseAcquiredAtMs: v.lease?.acquiredAtMs ?? 0,
    labels: { ...v.labels }, allocatedExtents: v.allocatedExtents, createdAtMs: v.createdAtMs,
  };
}

export function extentToPb(e: ExtentView): pb.IExtent {
  return { index: e.index, epoch: e.epoch, primary: e.primary, replicas: e.replicas.map((r) => ({ serverId: r.serverId, address: r.address })) };
}

export function serverToPb(s: ServerView): pb.IChunkServer {
  return {
    id: s.id, address: s.address, zone: s.zone, capacityBytes: s.capacityBytes, freeBytes: s.freeBytes,
    state: s.state, lastHeartbeatMs: s.lastHeartbeatMs, extentCount: s.extentCount, draining: s.draining,
  };
}

export function leaseToPb(l: LeaseView): pb.ILeaseReply {
  return { generation: l.generation, holder: l.clientId };
}

export function membersToPb(members: readonly MemberInfo[]): pb.IListMembersReply {
  return { members: members.map((m) => ({ id: m.id, address: m.address, learner: m.learner })) };
}
