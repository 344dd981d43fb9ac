import { BasaltError, ErrorCode, identityUri, isBasaltError, limits, type Identity } from '@basalt/stdx';
import { normalizeSerial } from '@basalt/wire';
import type { MetaMethodName, MetaServerReply, MetaServerRequest, pb } from '@basalt/wire';
import { authorizeCall, authorizeVolume, createVolumeCommand, tenantForCreate, tenantForListing, tenantOf, unwrap } from '../state/index.js';
import type { AllocateExtentCommand, AllocateExtentView, ExtentView, LabelView, LeaseView, MetaState, RepairTaskView, RevocationsView, ServerView, SnapshotView, TenantView, VolumeView } from '../state/index.js';
import { auditEntry, type AuditEntry } from './audit-log.js';
import type { ChunkServerLiveness, HeartbeatFacts } from './chunk-server-liveness.js';
import { extentToPb, leaseToPb, membersToPb, repairTaskToPb, serverToPb, snapshotToPb, tenantToPb, volumeToPb, wireServerState } from './convert.js';
import type { CapabilitySigner } from './capability-signer.js';
import type { RaftHost } from './raft-host.js';
import { checkCommand, checkCount, checkPageLimit, checkIndex, checkMemberAddress, checkMemberId, checkName, checkServer, memberExists, optionalString } from './validation.js';

/** The Meta service as metad runs it: every call with the caller's identity (TransportSecurity.peerIdentityOfCall in grpc-server.ts). */
export type CallerHandlers = {
  [K in MetaMethodName]: (request: MetaServerRequest<K>, caller: Identity) => Promise<MetaServerReply<K>>;
};

/** The Meta service called as one fixed identity (the web console reads through it). */
export type MetaHandlers = {
  [K in MetaMethodName]: (request: MetaServerRequest<K>) => Promise<MetaServerReply<K>>;
};

/** Where audited calls go (audit-log.ts). */
export interface AuditSink {
  append(entry: AuditEntry): void;
  list(sinceMs: number, limit: number): Promise<AuditEntry[]>;
}

export interface MetaApiContext {
  host: RaftHost;
  audit: AuditSink;
  liveness: ChunkServerLiveness;
  /** The leader's repair loop: a promotion frees a copy slot, so the next round runs at once. */
  repair: { nudge(): void };
  /** Extra facts for Status: this process and where its metrics are. */
  pid: number;
  metricsAddress: string;
  consoleAddress: string;
  /** Signs capabilities and extent states (docs/data-path.md, "Capabilities"); undefined: metad signs nothing. */
  signer?: CapabilitySigner | undefined;
}

/**
 * The Meta service: authorizes each call (state/authz.ts: the caller's role, then its tenant
 * against the volume's), validates the request, turns mutations into state machine commands
 * proposed through Raft, and answers reads after a ReadIndex (or from local state when the
 * caller asked for `stale`). Audited calls are written to the audit log with their outcome.
 * Every failure is a BasaltError.
 */
export function metaHandlers(ctx: MetaApiContext): CallerHandlers {
  const handlers = scopedHandlers(ctx);
  const guarded: Partial<Record<MetaMethodName, unknown>> = {};
  for (const method of Object.keys(handlers) as MetaMethodName[]) {
    guarded[method] = guard(ctx, method, handlers[method] as (r: unknown, caller: Identity) => Promise<unknown>);
  }
  return guarded as CallerHandlers;
}

/** The handlers bound to one caller. */
export function asCaller(handlers: CallerHandlers, caller: Identity): MetaHandlers {
  const bound: Partial<Record<MetaMethodName, unknown>> = {};
  for (const method of Object.keys(handlers) as MetaMethodName[]) {
    const handler = handlers[method] as (r: unknown, caller: Identity) => Promise<unknown>;
    bound[method] = (r: unknown) => handler(r, caller);
  }
  return bound as MetaHandlers;
}

/** The role check before the handler; the audit entry after it (audited calls, and every refusal of a caller's rights). */
function guard(ctx: MetaApiContext, method: MetaMethodName, handler: (r: unknown, caller: Identity) => Promise<unknown>) {
  return async (r: unknown, caller: Identity): Promise<unknown> => {
    const named = namedTarget(r);
    const record = (outcome: string): void => ctx.audit.append(auditEntry(Date.now(), caller, method, named.target, outcome));
    const allowed = authorizeCall(method, caller, named.serverId);
    if (!allowed.ok) {
      record(allowed.error.code);
      return unwrap(allowed);
    }
    try {
      const reply = await handler(r, caller);
      if (allowed.value.audited) record('ok');
      return reply;
    } catch (err) {
      const code = isBasaltError(err) ? err.code : ErrorCode.Io;
      if ((allowed.value.audited && code !== ErrorCode.NotLeader) || code === ErrorCode.PermissionDenied) record(code);
      throw err;
    }
  };
}

/** What a request names, for the audit log and for calls a chunk server may make for itself only. */
function namedTarget(r: unknown): { target: string; serverId?: string } {
  const fields = r as Record<string, unknown>;
  const serverId = typeof fields.serverId === 'string' ? fields.serverId : typeof fields.id === 'string' ? fields.id : undefined;
  for (const key of ['name', 'volume', 'id', 'serverId']) {
    const value = fields[key];
    if (typeof value === 'string' && value !== '') return { target: value, ...(serverId !== undefined && { serverId }) };
  }
  return { target: '', ...(serverId !== undefined && { serverId }) };
}

function scopedHandlers(ctx: MetaApiContext): CallerHandlers {
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
  /** The tenant condition a tenant-bound caller's volume command carries (checked again at apply). */
  const requireTenant = (caller: Identity): { requireTenant?: string } => {
    const tenant = tenantOf(caller);
    return tenant === undefined ? {} : { requireTenant: tenant };
  };
  /**
   * Refuses a tenant-bound caller a volume of another tenant, as this member's applied state
   * says (a volume it does not know is left to the handler's own answer).
   */
  const checkOwner = (s: MetaState, caller: Identity, name: string): void => {
    if (tenantOf(caller) === undefined) return;
    const volume = s.getVolume(name);
    if (volume.ok) unwrap(authorizeVolume(caller, name, volume.value.tenant));
  };
  const ownerChecked = (caller: Identity, name: string): void => host.readStale((s) => checkOwner(s, caller, name));
  const signer = ctx.signer;
  /** An extent as the API returns it: with its signed state when metad signs. */
  const signedExtent = (volumeId: number, e: ExtentView): pb.IExtent => (signer === undefined ? extentToPb(e) : { ...extentToPb(e), signedState: signer.extent(volumeId, e) });
  const volumeIdOf = (name: string): number => unwrap(host.readStale((s) => s.getVolume(name))).id;
  const signedOf = (name: string, e: ExtentView): pb.IExtent => (signer === undefined ? extentToPb(e) : signedExtent(volumeIdOf(name), e));
  /** What a chunk server learns from register and heartbeat replies: the key and its peer capability, for the identity that asked. */
  const serverCredentials = (serverId: string, caller: Identity): { capabilityKey?: Uint8Array; peerCapability?: Uint8Array } =>
    signer === undefined ? {} : { capabilityKey: signer.publicKey, peerCapability: signer.peer(serverId, identityUri(caller)) };

  return {
    revokeCertificate: async (r) => ({ serials: [...(await apply<RevocationsView>({ type: 'revokeCertificate', serial: normalizeSerial(r.serial) })).serials] }),
    listRevocations: async (r) => ({ serials: await query(r.stale, (s) => s.revokedSerials()) }),
    createVolume: async (r, caller) => {
      const tenant = unwrap(tenantForCreate(caller, r.tenant));
      const cmd = createVolumeCommand({
        name: r.name, sizeBytes: r.sizeBytes, nowMs: now(), tenant,
        ...(r.extentSizeBytes !== 0 && { extentSizeBytes: r.extentSizeBytes }),
        ...(r.replicationFactor !== 0 && { replicationFactor: r.replicationFactor }),
        ...(r.encryption != null && { encryption: { cipher: r.encryption.cipher ?? '', keyId: r.encryption.keyId ?? '', wrappedKey: Buffer.from(r.encryption.wrappedKey ?? new Uint8Array()).toString('base64') } }),
        ...(r.expectedVolumeId !== 0 && { expectedId: r.expectedVolumeId }),
      });
      return { volume: withStored(await apply<VolumeView>(cmd)) };
    },
    listVolumes: async (r, caller) => {
      const tenant = unwrap(tenantForListing(caller, r.tenant));
      if (r.limit === 0) {
        const { volumes, nextVolumeId } = await query(r.stale, (s) => ({ volumes: s.listVolumes(tenant), nextVolumeId: s.nextVolumeId() }));
        return { volumes: volumes.map(withStored), nextVolumeId, nextPageToken: '' };
      }
      const limit = checkPageLimit(r.limit);
      const { page, nextVolumeId } = await query(r.stale, (s) => ({ page: s.listVolumesPage(r.pageToken, limit, tenant), nextVolumeId: s.nextVolumeId() }));
      return { volumes: page.volumes.map(withStored), nextVolumeId, nextPageToken: page.nextAfter };
    },
    getVolume: async (r, caller) => {
      const name = checkName(r.name);
      const volume = unwrap(await query(r.stale, (s) => s.getVolume(name)));
      unwrap(authorizeVolume(caller, name, volume.tenant));
      return { volume: withStored(volume) };
    },
    resizeVolume: async (r, caller) => ({ volume: withStored(await apply<VolumeView>({ type: 'resizeVolume', name: r.name, sizeBytes: r.sizeBytes, ...(r.force && { force: true }), ...requireTenant(caller) })) }),
    deleteVolume: async (r, caller) => {
      await apply<VolumeView>({ type: 'deleteVolume', name: r.name, force: r.force, ...requireTenant(caller) });
      return {};
    },
    setVolumeLabel: async (r, caller) => {
      ownerChecked(caller, r.name);
      const expect = r.expect == null ? {} : { expect: r.expect === '' ? null : r.expect };
      const label = await apply<LabelView>({ type: 'setLabel', name: r.name, key: r.key, value: optionalString(r.value), ...expect });
      return { volume: withStored(unwrap(host.readStale((s) => s.getVolume(label.volume)))) };
    },
    getExtentMap: async (r, caller) => {
      const name = checkName(r.volume);
      const from = checkIndex('fromIndex', r.fromIndex);
      const count = checkCount(r.count);
      const { map: found, volume } = await query(r.stale, (s) => ({ map: s.extentMap(name, from, count), volume: s.getVolume(name) }));
      if (volume.ok) unwrap(authorizeVolume(caller, name, volume.value.tenant));
      const map = unwrap(found);
      const extents = map.extents.map((e) => signedExtent(map.volumeId, e));
      const capability = signer?.client(map.volumeId, map.extentCount, r.writer, map.generation, identityUri(caller));
      return { volumeId: map.volumeId, extentSizeBytes: map.extentSizeBytes, generation: map.generation, extents, ...(capability !== undefined && { capability }) };
    },
    allocateExtent: async (r, caller) => {
      ownerChecked(caller, r.volume);
      // The field only when asked for: entries without it replay exactly as before it existed.
      const cmd: AllocateExtentCommand = r.minReplicas > 0 ? { type: 'allocateExtent', name: r.volume, index: r.index, minReplicas: r.minReplicas } : { type: 'allocateExtent', name: r.volume, index: r.index };
      return { extent: signedOf(r.volume, await apply<AllocateExtentView>(cmd)) };
    },
    dropReplica: async (r, caller) => {
      // The leader decides on a report (state/drop-report.ts); apply() checks again at commit.
      requireLeader();
      ownerChecked(caller, r.volume);
      const report = { volume: checkName(r.volume), index: checkIndex('index', r.index), serverId: checkServer(r.serverId), expectedEpoch: checkIndex('expectedEpoch', r.expectedEpoch), reason: r.reason };
      if (!r.failOverVolume) {
        const cmd = unwrap(host.readStale((s) => s.decideDropReport(report)));
        liveness.reportedFailed(report.serverId);
        return { extent: signedOf(report.volume, await apply<ExtentView>(cmd)) };
      }
      // A silent primary: its other extents of the volume fail over in the same Raft batch.
      const [first, ...rest] = unwrap(host.readStale((s) => s.decideFailover(report, limits.repairFailoverPerReportMax)));
      liveness.reportedFailed(report.serverId);
      const reported = apply<ExtentView>(first!);
      // One refused (the state moved past its decision) or failed is left out: the client asks again when it writes there.
      const others = rest.map((cmd) => host.propose(cmd).then((res) => (res.ok ? (res.value as ExtentView) : undefined), () => undefined));
      const extent = signedOf(report.volume, await reported);
      const failedOver = (await Promise.all(others)).filter((e): e is ExtentView => e !== undefined).map((e) => signedOf(report.volume, e));
      return { extent, failedOver };
    },
    promoteReplica: async (r) => {
      const extent = await apply<ExtentView>({ type: 'promoteReplica', name: r.volume, index: r.index, serverId: r.serverId, expectedEpoch: r.expectedEpoch });
      ctx.repair.nudge();
      return { extent: signedOf(r.volume, extent) };
    },
    listRepairTasks: async (r) => {
      const serverId = checkServer(r.serverId);
      const limit = r.limit === 0 ? limits.repairTasksPerReplyMax : Math.min(r.limit, limits.repairTasksPerReplyMax);
      const tasks = await repairTasks(serverId);
      return { tasks: tasks.slice(0, limit).map((t) => (signer === undefined ? repairTaskToPb(t) : { ...repairTaskToPb(t), signedState: signer.extent(t.volumeId, t.extent) })) };
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
    acquireLease: async (r, caller) => {
      ownerChecked(caller, r.volume);
      return leaseToPb(await apply<LeaseView>({ type: 'acquireLease', name: r.volume, clientId: r.clientId, force: r.force, nowMs: now() }));
    },
    releaseLease: async (r, caller) => {
      ownerChecked(caller, r.volume);
      await apply({ type: 'releaseLease', name: r.volume, clientId: r.clientId, generation: r.generation });
      return {};
    },
    registerServer: async (r, caller) => {
      const server = await apply<ServerView>({
        type: 'registerServer', serverId: r.id, address: r.address, zone: r.zone, capacityBytes: r.capacityBytes, freeBytes: r.freeBytes, nowMs: now(),
      });
      liveness.heard(server.id);
      return { server: serverToPb(server), ...serverCredentials(server.id, caller) };
    },
    heartbeat: async (r, caller) => {
      // Leader-local: only a change of state (down -> up) or of free space past a threshold is proposed.
      requireLeader();
      let server = unwrap(host.readStale((s) => s.getServer(checkServer(r.id))));
      liveness.heard(server.id, heartbeatFacts(r, now()));
      if (server.state === 'down') server = await apply<ServerView>({ type: 'markServerUp', serverId: server.id, nowMs: now() });
      if (Math.abs(r.freeBytes - server.freeBytes) > limits.metaFreeBytesReportDeltaBytes) {
        server = await apply<ServerView>({ type: 'heartbeat', serverId: server.id, freeBytes: r.freeBytes, nowMs: now() });
      }
      return { intervalMs: liveness.heartbeatIntervalMs, state: wireServerState(server), revokedSerials: host.readStale((s) => s.revokedSerials()), ...serverCredentials(server.id, caller) };
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
    createTenant: async (r) => ({ tenant: tenantToPb(await apply<TenantView>({ type: 'createTenant', name: r.name, maxBytes: r.maxBytes, maxVolumes: r.maxVolumes, nowMs: now() })) }),
    listTenants: async (r, caller) => {
      const own = tenantOf(caller);
      const tenants = await query(r.stale, (s) => (own === undefined ? s.listTenants() : [unwrap(s.getTenant(own))]));
      return { tenants: tenants.map(tenantToPb) };
    },
    setTenantQuota: async (r) => ({ tenant: tenantToPb(await apply<TenantView>({ type: 'setTenantQuota', name: r.name, maxBytes: r.maxBytes, maxVolumes: r.maxVolumes })) }),
    deleteTenant: async (r) => {
      await apply<TenantView>({ type: 'deleteTenant', name: r.name });
      return {};
    },
    listAudit: async (r) => {
      const limit = r.limit === 0 ? limits.auditReplyEntriesMax : Math.min(r.limit, limits.auditReplyEntriesMax);
      return { entries: await ctx.audit.list(r.sinceMs, limit) };
    },
    createSnapshot: async (r, caller) => {
      ownerChecked(caller, r.volume);
      return { snapshot: snapshotToPb(await apply<SnapshotView>({ type: 'createSnapshot', name: r.volume, snapshot: r.name, nowMs: now(), ...(r.requested && { requested: true }) })) };
    },
    requestSnapshot: async (r, caller) => {
      ownerChecked(caller, r.volume);
      return { snapshot: snapshotToPb(await apply<SnapshotView>({ type: 'requestSnapshot', name: r.volume, snapshot: r.name, requestedBy: requester(caller), nowMs: now() })) };
    },
    requestFlatten: async (r, caller) => {
      ownerChecked(caller, r.name);
      return { volume: withStored(await apply<VolumeView>({ type: 'requestFlatten', name: r.name, requestedBy: requester(caller), bytesPerSec: r.bytesPerSec, nowMs: now(), ...(r.cancel && { cancel: true }) })) };
    },
    reportFlatten: async (r, caller) => {
      ownerChecked(caller, r.name);
      return { volume: withStored(await apply<VolumeView>({ type: 'reportFlatten', name: r.name, generation: r.generation, doneBytes: r.doneBytes, totalBytes: r.totalBytes })) };
    },
    commitSnapshot: async (r, caller) => {
      ownerChecked(caller, r.volume);
      return { snapshot: snapshotToPb(await apply<SnapshotView>({ type: 'commitSnapshot', name: r.volume, snapshot: r.name })) };
    },
    deleteSnapshot: async (r, caller) => {
      ownerChecked(caller, r.volume);
      return { snapshot: snapshotToPb(await apply<SnapshotView>({ type: 'deleteSnapshot', name: r.volume, snapshot: r.name, ...(r.requested && { requested: true }) })) };
    },
    listSnapshots: async (r, caller) => {
      const name = checkName(r.volume);
      const { snapshots, volume } = await query(r.stale, (s) => ({ snapshots: s.listSnapshots(name, r.includeHidden), volume: s.getVolume(name) }));
      if (volume.ok) unwrap(authorizeVolume(caller, name, volume.value.tenant));
      return { snapshots: unwrap(snapshots).map(snapshotToPb) };
    },
    grantSnapshotDrop: async (r, caller) => {
      const name = checkName(r.volume);
      const id = Number(r.snapshotId);
      // Linearizable: a grant must follow the delete it confirms.
      const { dropped, volume } = await query(false, (s) => ({ dropped: s.snapshotDropped(name, id), volume: s.getVolume(name) }));
      if (volume.ok) unwrap(authorizeVolume(caller, name, volume.value.tenant));
      if (!unwrap(dropped)) throw new BasaltError(ErrorCode.SnapshotExists, `snapshot id ${id} of volume ${name} is not deleted for good (it is listed, kept for clones, or was never taken): its blocks stay`, { volume: name, snapshotId: id });
      return signer === undefined ? {} : { grant: signer.dropped(volume.ok ? volume.value.id : 0, id) };
    },
    flattenVolume: async (r, caller) => {
      ownerChecked(caller, r.name);
      return { volume: withStored(await apply<VolumeView>({ type: 'flattenVolume', name: r.name })) };
    },
    cloneVolume: async (r, caller) => {
      ownerChecked(caller, r.volume);
      return { volume: withStored(await apply<VolumeView>({ type: 'cloneVolume', name: r.volume, snapshot: r.snapshot, clone: r.clone, nowMs: now(), shareKey: true })) };
    },
  };
}

/** Who asked the lease holder for something, as the request records it: `role/name[@tenant]`. */
function requester(caller: Identity): string {
  return `${caller.role}/${caller.name}${caller.tenant === undefined ? '' : `@${caller.tenant}`}`;
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
