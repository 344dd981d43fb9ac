import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { pb } from '@basalt/wire';
import type { MetaClient } from '@basalt/wire';
import type { MetaHandlers } from '../meta-api.js';
import type { RaftHost } from '../raft-host.js';
import type { AgentSampler } from './agent-sampler.js';
import type { ClusterSnapshot, ExtentRow, MemberRow, RepairRow, ServerRow, VolumeRow, VolumeSnapshot } from './view/model.js';

/**
 * Gathers what a console page shows through the Meta API handlers (the leader's linearizable
 * reads), plus each member's own Status over gRPC for the members table.
 */

export async function clusterSnapshot(h: MetaHandlers, host: RaftHost, members: MetaClient, cluster: string): Promise<ClusterSnapshot> {
  const self = host.status();
  const [memberList, servers, volumes, degraded, repair] = await Promise.all([
    h.listMembers(pb.ListMembersRequest.create({})),
    h.listServers(pb.ListServersRequest.create({})),
    h.listVolumes(pb.ListVolumesRequest.create({ limit: limits.volumesPageMax })),
    h.listDegradedExtents(pb.ListDegradedExtentsRequest.create({ limit: limits.extentMapCountMax })),
    repairStatus(h),
  ]);
  const degradedBy = new Map<string, number>();
  for (const e of degraded.extents ?? []) degradedBy.set(e.volume ?? '', (degradedBy.get(e.volume ?? '') ?? 0) + 1);
  const memberRows = await Promise.all((memberList.members ?? []).map((m) => memberRow(m, self, members)));
  return {
    nowMs: Date.now(), clusterName: cluster, self: self.id, leaderId: self.leaderId, term: self.term,
    members: memberRows, servers: (servers.servers ?? []).map(serverRow), volumes: (volumes.volumes ?? []).map((v) => volumeRow(v, degradedBy)),
    degradedTotal: Number(degraded.total ?? 0), repair,
  };
}

/** One volume's page, or undefined when there is no such volume. */
export async function volumeSnapshot(h: MetaHandlers, name: string, sampler: AgentSampler): Promise<VolumeSnapshot | undefined> {
  let volume: pb.IVolume;
  try {
    volume = (await h.getVolume(pb.GetVolumeRequest.create({ name }))).volume ?? {};
  } catch (err) {
    if (err instanceof BasaltError && (err.code === ErrorCode.VolumeNotFound || err.code === ErrorCode.InvalidArgument)) return undefined;
    throw err;
  }
  const [map, servers, degraded] = await Promise.all([
    h.getExtentMap(pb.GetExtentMapRequest.create({ volume: name, fromIndex: 0, count: limits.extentMapCountMax })),
    h.listServers(pb.ListServersRequest.create({})),
    h.listDegradedExtents(pb.ListDegradedExtentsRequest.create({ limit: limits.extentMapCountMax })),
  ]);
  const degradedBy = new Map([[name, (degraded.extents ?? []).filter((e) => e.volume === name).length]]);
  return {
    nowMs: Date.now(), volume: volumeRow(volume, degradedBy),
    extents: (map.extents ?? []).map(extentRow),
    serverStates: new Map((servers.servers ?? []).map((s) => [s.id ?? '', s.state ?? ''])),
    rates: sampler.rates.of(name), sampling: sampler.sampling, sampleIntervalMs: limits.consoleSampleIntervalMs, samplesMax: limits.consoleSamplesMax,
  };
}

/** Repair progress, or undefined while GetRepairStatus does not answer (the page then shows none). */
async function repairStatus(h: MetaHandlers): Promise<RepairRow | undefined> {
  try {
    const r = await h.getRepairStatus(pb.GetRepairStatusRequest.create({}));
    return {
      degradedExtents: Number(r.degradedExtents ?? 0), criticalExtents: Number(r.criticalExtents ?? 0), rebuildingReplicas: Number(r.rebuildingReplicas ?? 0),
      waitingExtents: Number(r.waitingExtents ?? 0), bytesLeft: Number(r.bytesLeft ?? 0), rateBytesPerSec: Number(r.rateBytesPerSec ?? 0), etaSeconds: Number(r.etaSeconds ?? 0),
    };
  } catch {
    return undefined;
  }
}

async function memberRow(m: pb.IMember, self: ReturnType<RaftHost['status']>, client: MetaClient): Promise<MemberRow> {
  const base = { id: m.id ?? '', address: m.address ?? '', learner: m.learner === true };
  if (m.id === self.id) return { ...base, role: self.role, term: self.term, commitIndex: self.commitIndex, appliedIndex: self.appliedIndex };
  try {
    const s = await client.call('status', {}, { address: base.address, timeoutMs: limits.consoleCallTimeoutMs });
    return { ...base, role: s.role, term: s.term, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex };
  } catch {
    return { ...base, role: 'unreachable', term: 0, commitIndex: 0, appliedIndex: 0 };
  }
}

function serverRow(s: pb.IChunkServer): ServerRow {
  return {
    id: s.id ?? '', address: s.address ?? '', zone: s.zone ?? '', state: s.state ?? '', capacityBytes: Number(s.capacityBytes ?? 0),
    freeBytes: Number(s.freeBytes ?? 0), extentCount: Number(s.extentCount ?? 0), lastHeartbeatMs: Number(s.lastHeartbeatMs ?? 0),
  };
}

function volumeRow(v: pb.IVolume, degradedBy: ReadonlyMap<string, number>): VolumeRow {
  const name = v.name ?? '';
  return {
    name, sizeBytes: Number(v.sizeBytes ?? 0), extentSizeBytes: Number(v.extentSizeBytes ?? 0), extentCount: Number(v.extentCount ?? 0),
    allocatedExtents: Number(v.allocatedExtents ?? 0), replicationFactor: v.replicationFactor ?? 0, writer: v.leaseHolder ?? '',
    generation: Number(v.generation ?? 0), labels: { ...(v.labels ?? {}) }, degradedExtents: degradedBy.get(name) ?? 0,
  };
}

function extentRow(e: pb.IExtent): ExtentRow {
  return { index: Number(e.index ?? 0), epoch: Number(e.epoch ?? 0), primary: e.primary ?? '', replicas: (e.replicas ?? []).map((r) => r.serverId ?? '') };
}
