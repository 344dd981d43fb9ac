import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import type { MetaMethodName, MetaServerReply, MetaServerRequest, pb } from '@basalt/wire';
import { createVolumeCommand, unwrap } from '../state/index.js';
import type { AllocateExtentCommand, AllocateExtentView, ExtentView, LabelView, LeaseView, MetaState, RepairTaskView, ServerView, SnapshotView, VolumeView } from '../state/index.js';
import type { ChunkServerLiveness, HeartbeatFacts } from './chunk-server-liveness.js';
import { extentToPb, leaseToPb, membersToPb, repairTaskToPb, serverToPb, snapshotToPb, volumeToPb, wireServerState } from './convert.js';
import type { RaftHost } from './raft-host.js';
import { checkCommand, checkCount, checkPageLimit, checkIndex, checkMemberAddress, checkMemberId, checkName, checkServer, memberExists, optionalString } from './validation.js';

export type MetaHandlers = {
  [K in MetaMethodName]: (request: MetaServerRequest<K>) => Promise<MetaServerReply<K>>;
};

export interface MetaApiContext {
  host: RaftHost;
  liveness: ChunkServerLiveness;
  /** The leader's repair loop: a promotion frees a copy slot, so the next round runs at once. */
  repair: { nudge(): void };
  /** Extra facts for Status: this process and where its metrics are. */
  pid: number;
  metricsAddress: string;
  consoleAddress: string;
}

/**
 * The Meta service: validates each request, turns mutations into state machine commands
 * proposed through Raft, and answers reads after a ReadIndex (or from local state when the
 * caller asked for `stale`). Every failure is a BasaltError.
 */
export function metaHandlers(ctx: MetaApiContext): MetaHandlers {
  const { host, liveness } = ctx;
  /** A volume with its stored bytes as this member heard them (leader-local, like repair progress). */
  const withStored = (v: VolumeView): pb.IVolume => ({ ...volumeToPb(v), storedBytes: liveness.storedBytes(v.id) });
  const now = (): number => Date.now();
  const query = <T>(stale: boolean, fn: (s: MetaState) => T): Promise<T> => (stale ? Promise.resolve(host.readStale(fn)) : host.read(fn));
  const apply = async <T>(cmd: Parameters<RaftHost['propose']>[0]): Promise<T> => unwrap(await host.propose(checkCommand(cmd))) as T;
  const requireLeader = (): void => {
    if (!host.isLeader) throw host.notLeader();
  };
  const repairTasks = repairTaskCache(host);

  return {
    createVolume: async (r) => {
      const cmd = createVolumeCommand({
        name: r.name, sizeBytes: r.sizeBytes, nowMs: now(),
        ...(r.extentSizeBytes !== 0 && { extentSizeBytes: r.extentSizeBytes }),
        ...(r.replicationFactor !== 0 && { replicationFactor: r.replicationFactor }),
      });
      return { volume: withStored(await apply<VolumeView>(cmd)) };
    },
    listVolumes: async (r) => {
      if (r.limit === 0) {
        const { volumes, nextVolumeId } = await query(r.stale, (s) => ({ volumes: s.listVolumes(), nextVolumeId: s.nextVolumeId() }));
        return { volumes: volumes.map(withStored), nextVolumeId, nextPageToken: '' };
      }
      const limit = checkPageLimit(r.limit);
      const { page, nextVolumeId } = await query(r.stale, (s) => ({ page: s.listVolumesPage(r.pageToken, limit), nextVolumeId: s.nextVolumeId() }));
      return { volumes: page.volumes.map(withStored), nextVolumeId, nextPageToken: page.nextAfter };
    },
    getVolume: async (r) => {
      const name = checkName(r.name);
      return { volume: withStored(unwrap(await query(r.stale, (s) => s.getVolume(name)))) };
    },
    resizeVolume: async (r) => ({ volume: withStored(await apply<VolumeView>({ type: 'resizeVolume', name: r.name, sizeBytes: r.sizeBytes, ...(r.force && { force: true }) })) }),
    deleteVolume: async (r) => {
      await apply<VolumeView>({ type: 'deleteVolume', name: r.name, force: r.force });
      return {};
    },
    setVolumeLabel: async (r) => {
      const expect = r.expect == null ? {} : { expect: r.expect === '' ? null : r.expect };
      const label = await apply<LabelView>({ type: 'setLabel', name: r.name, key: r.key, value: optionalString(r.value), ...expect });
      return { volume: withStored(unwrap(host.readStale((s) => s.getVolume(label.volume)))) };
    },
    getExtentMap: async (r) => {
      const name = checkName(r.volume);
      const from = checkIndex('fromIndex', r.fromIndex);
      const count = checkCount(r.count);
      const map = unwrap(await query(r.stale, (s) => s.extentMap(name, from, count)));
      return { volumeId: map.volumeId, extentSizeBytes: map.extentSizeBytes, generation: map.generation, extents: map.extents.map(extentToPb) };
    },
    allocateExtent: async (r) => {
      // The field only when asked for: entries without it replay exactly as before it existed.
      const cmd: AllocateExtentCommand = r.minReplicas > 0 ? { type: 'allocateExtent', name: r.volume, index: r.index, minReplicas: r.minReplicas } : { type: 'allocateExtent', name: r.volume, index: r.index };
      return { extent: extentToPb(await apply<AllocateExtentView>(cmd)) };
    },
    dropReplica: async (r) => {
      // The leader decides on a report (state/drop-report.ts); apply() checks again at commit.
      requireLeader();
      const report = { volume: checkName(r.volume), index: checkIndex('index', r.index), serverId: checkServer(r.serverId), expectedEpoch: checkIndex('expectedEpoch', r.expectedEpoch), reason: r.reason };
      const cmd = unwrap(host.readStale((s) => s.decideDropReport(report)));
      liveness.reportedFailed(report.serverId);
      return { extent: extentToPb(await apply<ExtentView>(cmd)) };
    },
    promoteReplica: async (r) => {
      const extent = await apply<ExtentView>({ type: 'promoteReplica', name: r.volume, index: r.index, serverId: r.serverId, expectedEpoch: r.expectedEpoch });
      ctx.repair.nudge();
      return { extent: extentToPb(extent) };
    },
    listRepairTasks: async (r) => {
      const serverId = checkServer(r.serverId);
      const limit = r.limit === 0 ? limits.repairTasksPerReplyMax : Math.min(r.limit, limits.repairTasksPerReplyMax);
      const tasks = await repairTasks(serverId);
      return { tasks: tasks.slice(0, limit).map(repairTaskToPb) };
    },
    drainServer: async (r) => ({ server: serverToPb(await apply<ServerView>({ type: 'setServerDraining', serverId: r.id, draining: r.drain })) }),
    markServerOut: async (r) => ({ server: serverToPb(await apply<ServerView>({ type: 'markServerOut', serverId: r.id, nowMs: now() })) }),
    removeServer: async (r) => {
      const server = await apply<ServerView>({ type: 'removeServer', serverId: r.id, dropFromSets: true });
      liveness.forget(server.id);
      return { server: serverToPb(server) };
    },
    getRepairStatus: async () => {
      requireLeader();
      const counts = await query(false, (s) => s.redundancyCounts());
      const { bytesLeft, rateBytesPerSec } = liveness.repairTotals();
      const etaSeconds = bytesLeft > 0 && rateBytesPerSec > 0 ? Math.ceil(bytesLeft / rateBytesPerSec) : 0;
      return { ...counts, bytesLeft, rateBytesPerSec, etaSeconds };
    },
    acquireLease: async (r) => leaseToPb(await apply<LeaseView>({ type: 'acquireLease', name: r.volume, clientId: r.clientId, force: r.force, nowMs: now() })),
    releaseLease: async (r) => {
      await apply({ type: 'releaseLease', name: r.volume, clientId: r.clientId, generation: r.generation });
      return {};
    },
    registerServer: async (r) => {
      const server = await apply<ServerView>({
        type: 'registerServer', serverId: r.id, address: r.address, zone: r.zone, capacityBytes: r.capacityBytes, freeBytes: r.freeBytes, nowMs: now(),
      });
      liveness.heard(server.id);
      return { server: serverToPb(server) };
    },
    heartbeat: async (r) => {
      // Leader-local: only a change of state (down -> up) or of free space past a threshold is proposed.
      requireLeader();
      let server = unwrap(host.readStale((s) => s.getServer(checkServer(r.id))));
      liveness.heard(server.id, heartbeatFacts(r, now()));
      if (server.state === 'down') server = await apply<ServerView>({ type: 'markServerUp', serverId: server.id, nowMs: now() });
      if (Math.abs(r.freeBytes - server.freeBytes) > limits.metaFreeBytesReportDeltaBytes) {
        server = await apply<ServerView>({ type: 'heartbeat', serverId: server.id, freeBytes: r.freeBytes, nowMs: now() });
      }
      return { intervalMs: liveness.heartbeatIntervalMs, state: wireServerState(server) };
    },
    listServers: async (r) => ({ servers: (await query(r.stale, (s) => s.listServers())).map((s) => serverToPb(s, liveness.factsOf(s.id))) }),
    listDegradedExtents: async (r) => {
      const limit = r.limit === 0 ? limits.extentMapCountMax : Math.min(r.limit, limits.extentMapCountMax);
      const report = await query(r.stale, (s) => s.degradedExtents(limit));
      return { total: report.total, extents: report.extents.map((e) => ({ ...e, replicas: [...e.replicas] })) };
    },
    status: (r) => {
      const s = host.status();
      return Promise.resolve({ ...s, pid: ctx.pid, stateHash: r.stateHash ? host.stateHash() : '', metricsAddress: ctx.metricsAddress, consoleAddress: ctx.consoleAddress });
    },
    listMembers: async (r) => membersToPb(await query(r.stale, () => host.members())),
    addMember: async (r) => {
      const id = checkMemberId(r.id);
      const address = checkMemberAddress(r.address);
      if (host.members().length >= limits.metaMembersMax) {
        throw new BasaltError(ErrorCode.LimitExceeded, `a cluster has at most ${limits.metaMembersMax} members`);
      }
      return membersToPb(await host.changeMembers({ type: r.learner ? 'AddLearner' : 'AddNode', nodeId: id, context: new TextEncoder().encode(address) }));
    },
    removeMember: async (r) => {
      const id = checkMemberId(r.id);
      memberExists(host.members().some((m) => m.id === id), id);
      return membersToPb(await host.changeMembers({ type: 'RemoveNode', nodeId: id }));
    },
    promoteMember: async (r) => {
      const id = checkMemberId(r.id);
      const member = host.members().find((m) => m.id === id);
      memberExists(member !== undefined, id);
      if (member?.learner !== true) throw new BasaltError(ErrorCode.InvalidArgument, `member "${id}" is already a voter`, { id });
      return membersToPb(await host.changeMembers({ type: 'AddNode', nodeId: id, context: new TextEncoder().encode(member.address) }));
    },
    transferLeader: (r) => {
      const id = checkMemberId(r.id);
      host.transferLeader(id);
      const s = host.status();
      return Promise.resolve({ ...s, pid: ctx.pid, stateHash: host.stateHash(), metricsAddress: ctx.metricsAddress, consoleAddress: ctx.consoleAddress });
    },
    createSnapshot: async (r) => ({ snapshot: snapshotToPb(await apply<SnapshotView>({ type: 'createSnapshot', name: r.volume, snapshot: r.name, nowMs: now() })) }),
    commitSnapshot: async (r) => ({ snapshot: snapshotToPb(await apply<SnapshotView>({ type: 'commitSnapshot', name: r.volume, snapshot: r.name })) }),
    deleteSnapshot: async (r) => ({ snapshot: snapshotToPb(await apply<SnapshotView>({ type: 'deleteSnapshot', name: r.volume, snapshot: r.name })) }),
    listSnapshots: async (r) => {
      const name = checkName(r.volume);
      return { snapshots: unwrap(await query(r.stale, (s) => s.listSnapshots(name, r.includeHidden))).map(snapshotToPb) };
    },
    flattenVolume: async (r) => ({ volume: withStored(await apply<VolumeView>({ type: 'flattenVolume', name: r.name })) }),
    cloneVolume: async (r) => ({ volume: withStored(await apply<VolumeView>({ type: 'cloneVolume', name: r.volume, snapshot: r.snapshot, clone: r.clone, nowMs: now() })) }),
  };
}

function heartbeatFacts(r: MetaServerRequest<'heartbeat'>, heardAtMs: number): HeartbeatFacts {
  const repair = r.repair ?? {};
  return {
    freeBytes: r.freeBytes,
    copiesRunning: Number(repair.copiesRunning ?? 0),
    bytesLeft: Number(repair.bytesLeft ?? 0),
    bytesCopied: Number(repair.bytesCopied ?? 0),
    rateBytesPerSec: Number(repair.rateBytesPerSec ?? 0),
    scrubLastPassMs: r.scrubLastPassMs,
    scrubRepairedBlocks: r.scrubRepairedBlocks,
    volumeStoredBytes: new Map(r.volumes.map((v) => [Number(v.volumeId), Number(v.bytes)])),
    heardAtMs,
  };
}

/**
 * Repair tasks by primary, computed in one pass over the state once per applied index (every
 * chunk server asks with each heartbeat), after a ReadIndex so a task is never older than a
 * promotion the asker already saw.
 */
function repairTaskCache(host: RaftHost): (serverId: string) => Promise<readonly RepairTaskView[]> {
  let cached: { applied: number; tasks: Map<string, RepairTaskView[]> } | undefined;
  return async (serverId) => {
    const tasks = await host.read((s) => {
      const applied = host.status().appliedIndex;
      if (cached?.applied !== applied) cached = { applied, tasks: s.repairTasksByPrimary() };
      return cached.tasks;
    });
    return tasks.get(serverId) ?? [];
  };
}
