import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { CapabilitySigner, MetaState, suspectServers, unwrap, type Command, type CommandValue, type ExtentView, type PlannerFacts, type ServerView } from '@basalt/meta';
import { registersAgain, type Credentials, type DropReason, type ExtentPlacement, type MetaLink, type RepairTask, type ServerReport, type VolumeCensus } from '@basalt/chunk/parts';
import type { KeyObject } from 'node:crypto';
import type { ReplicaRef } from '@basalt/wire';
import { simIdentity, type SimNetwork } from './network.js';
import type { Scheduler } from './scheduler.js';

/**
 * metad as one replicated state (Raft is simulated in packages/raft): the production state
 * machine (MetaState: apply, planRepairs with checkPlan, decideDropReport, repairTasksByPrimary,
 * extentMap) behind the few request handlers the data path uses, which mirror
 * packages/meta/src/server/meta-api.ts (heartbeat: liveness is leader-local, a down server that
 * is heard is marked up; dropReplica: the leader decides, apply checks again). The repair loop
 * mirrors repair-loop.ts: a planner round every `repairIntervalMs`, its commands applied in order.
 * Every applied command goes through onApply (the checkers watch epochs there).
 */
export interface SimMetadOptions {
  readonly repairIntervalMs: number;
  readonly downAfterMs: number;
  readonly downOutIntervalMs: number;
  readonly heartbeatIntervalMs: number;
}

/** A placement with metad's signature over it (proto Extent.signed_state). */
export interface SignedPlacement extends ExtentPlacement {
  readonly signedState: Buffer;
}

export class SimMetad {
  readonly state = MetaState.empty();
  /** Signs capabilities and extent states as metad does with --signing-key, on the simulated clock. */
  readonly signer: CapabilitySigner;
  private readonly lastHeard = new Map<string, number>();
  private readonly reportedFailedAt = new Map<string, number>();
  commands = 0;

  constructor(
    private readonly sched: Scheduler,
    private readonly opts: SimMetadOptions,
    private readonly onApply: (cmd: Command) => void,
    signingKey: KeyObject,
  ) {
    this.signer = new CapabilitySigner(signingKey, () => sched.nowMs());
  }

  signed(volumeId: number, ext: ExtentView): SignedPlacement {
    return { ...toPlacement(ext), signedState: this.signer.extent(volumeId, ext) };
  }

  /** What a chunk server learns from a register or heartbeat reply. */
  serverCredentials(serverId: string): { capabilityKey: Buffer; peerCapability: Buffer } {
    return { capabilityKey: this.signer.publicKey, peerCapability: this.signer.peer(serverId, simIdentity) };
  }

  /** Applies a command as if Raft committed it; a refusal becomes a BasaltError with its code. */
  apply<C extends Command>(cmd: C): CommandValue<C> {
    const value = unwrap(this.state.apply(cmd));
    this.commands++;
    this.sched.note(`apply ${cmd.type} ${'name' in cmd ? cmd.name : ''} ${'index' in cmd ? cmd.index : ''} ${'serverId' in cmd ? cmd.serverId : ''}`);
    this.onApply(cmd);
    return value;
  }

  startRepairLoop(): void {
    this.sched.at(this.opts.repairIntervalMs, 'metad repair round', () => {
      this.repairRound();
      this.startRepairLoop();
    });
  }

  repairRound(): void {
    const facts = this.facts();
    const plan = this.state.planRepairs(facts);
    this.state.checkPlan(facts, plan);
    for (const cmd of plan) {
      const result = this.state.apply(cmd);
      if (!result.ok) continue; // left to the next round, as repair-loop.ts does
      this.commands++;
      this.sched.note(`repair ${cmd.type} ${cmd.serverId}`);
      this.onApply(cmd);
    }
  }

  register(r: ServerReport): void {
    this.apply({ type: 'registerServer', serverId: r.id, address: r.address, zone: r.zone, capacityBytes: r.capacityBytes, freeBytes: r.freeBytes, nowMs: this.sched.nowMs() });
    this.lastHeard.set(r.id, this.sched.nowMs());
  }

  /** meta-api heartbeat: returns the wire state the server sees. */
  heartbeat(r: ServerReport): string {
    let server: ServerView = unwrap(this.state.getServer(r.id));
    this.lastHeard.set(r.id, this.sched.nowMs());
    if (server.state === 'down') server = this.apply({ type: 'markServerUp', serverId: r.id, nowMs: this.sched.nowMs() });
    return server.state === 'up' && server.draining ? 'draining' : server.state;
  }

  dropReport(volumeId: number, index: number, serverId: string, expectedEpoch: number, reason: string): ExtentView {
    const cmd = unwrap(this.state.decideDropReport({ volume: this.volumeName(volumeId), index, serverId, expectedEpoch, reason }));
    this.reportedFailedAt.set(serverId, this.sched.nowMs());
    return this.apply(cmd);
  }

  /**
   * meta-api dropReplica with fail_over_volume (a client's silent primary): the leader's one
   * decision, its commands applied together (nothing runs between them here, so none is refused);
   * the reported extent's new set first.
   */
  failoverReport(volumeId: number, index: number, serverId: string, expectedEpoch: number, reason: string): ExtentView[] {
    const cmds = unwrap(this.state.decideFailover({ volume: this.volumeName(volumeId), index, serverId, expectedEpoch, reason }, limits.repairFailoverPerReportMax));
    this.reportedFailedAt.set(serverId, this.sched.nowMs());
    return cmds.map((cmd) => this.apply(cmd));
  }

  volumeName(volumeId: number): string {
    const v = this.state.listVolumes().find((x) => x.id === volumeId);
    if (v === undefined) throw new BasaltError(ErrorCode.VolumeNotFound, `metad knows no volume with id ${volumeId}`, { volumeId });
    return v.name;
  }

  placement(volumeId: number, index: number): SignedPlacement | undefined {
    const map = unwrap(this.state.extentMap(this.volumeName(volumeId), index, 1));
    const ext = map.extents.find((e) => e.index === index);
    return ext === undefined ? undefined : this.signed(volumeId, ext);
  }

  /** The writer's capability for a volume, as GetExtentMap gives it. */
  capability(volumeId: number, writer: boolean): Buffer {
    const map = unwrap(this.state.extentMap(this.volumeName(volumeId), 0, 1));
    return this.signer.client(volumeId, map.extentCount, writer, map.generation, simIdentity);
  }

  repairTasks(serverId: string): (RepairTask & { signedState: Buffer })[] {
    const tasks = this.state.repairTasksByPrimary().get(serverId) ?? [];
    return tasks.slice(0, limits.repairTasksPerReplyMax).map((t) => ({
      volumeId: t.volumeId,
      index: t.extent.index,
      extentSizeBytes: t.extentSizeBytes,
      epoch: t.extent.epoch,
      members: toPlacement(t.extent).replicas,
      signedState: this.signer.extent(t.volumeId, t.extent),
    }));
  }

  private facts(): PlannerFacts {
    const now = this.sched.nowMs();
    const silentMs = new Map<string, number>();
    for (const s of this.state.listServers()) silentMs.set(s.id, now - (this.lastHeard.get(s.id) ?? 0));
    return { nowMs: now, silentMs, suspect: suspectServers(this.reportedFailedAt, this.lastHeard), downAfterMs: this.opts.downAfterMs, downOutIntervalMs: this.opts.downOutIntervalMs, actionsMax: limits.repairActionsPerRoundMax, copiesPerServerMax: limits.repairCopiesPerServerMax };
  }
}

export function toPlacement(ext: ExtentView): ExtentPlacement {
  return { epoch: ext.epoch, replicas: ext.replicas.map((r): ReplicaRef => (r.rebuilding ? { serverId: r.serverId, address: r.address, rebuilding: true } : { serverId: r.serverId, address: r.address })) };
}

/**
 * A chunk server's MetaLink over the simulated network to SimMetad (what MetadLink does over
 * gRPC: heartbeat registers again when registersAgain() says so).
 */
export class SimMetaLink implements MetaLink {
  constructor(
    private readonly net: SimNetwork,
    private readonly metad: SimMetad,
    private readonly id: string,
    private readonly inc: number,
    private readonly timeoutMs: number,
    private readonly credentials: Credentials,
  ) {}

  async register(report: ServerReport): Promise<void> {
    const reply = await this.call('register', () => {
      this.metad.register(report);
      return this.metad.serverCredentials(report.id);
    });
    this.credentials.learn(reply);
  }

  async heartbeat(report: ServerReport): Promise<number> {
    const [state, reply] = await this.call('heartbeat', () => [this.metad.heartbeat(report), this.metad.serverCredentials(report.id)] as const);
    this.credentials.learn(reply);
    if (registersAgain(state)) await this.register(report);
    return 0;
  }

  dropReplica(volumeId: number, index: number, serverId: string, expectedEpoch: number, reason?: DropReason): Promise<ExtentPlacement> {
    return this.learned(this.call('dropReplica', () => this.metad.signed(volumeId, this.metad.dropReport(volumeId, index, serverId, expectedEpoch, reason ?? ''))));
  }

  promoteReplica(volumeId: number, index: number, serverId: string, expectedEpoch: number): Promise<ExtentPlacement> {
    return this.learned(this.call('promoteReplica', () => this.metad.signed(volumeId, this.metad.apply({ type: 'promoteReplica', name: this.metad.volumeName(volumeId), index, serverId, expectedEpoch }))));
  }

  repairTasks(serverId: string): Promise<RepairTask[]> {
    return this.call('listRepairTasks', () => this.metad.repairTasks(serverId)).then((tasks) => {
      for (const t of tasks) this.credentials.rememberState(t.signedState);
      return tasks;
    });
  }

  placement(volumeId: number, index: number): Promise<ExtentPlacement | undefined> {
    return this.call('getExtentMap', () => this.metad.placement(volumeId, index)).then((p) => {
      this.credentials.rememberState(p?.signedState);
      return p;
    });
  }

  census(): Promise<VolumeCensus> {
    return this.call('census', () => {
      const s = this.metad.state;
      const volumes = s.listVolumes();
      return { liveVolumeIds: new Set(volumes.map((v) => v.id)), nextVolumeId: s.nextVolumeId(), servers: new Map(s.listServers().map((x) => [x.id, x.address])), volumeNames: new Map(volumes.map((v) => [v.id, v.name])) };
    });
  }

  snapshotIds(volume: string): Promise<ReadonlySet<number>> {
    return this.call('snapshotIds', () => {
      const found = this.metad.state.listSnapshots(volume, true);
      return new Set(found.ok ? found.value.map((x) => x.id) : []);
    });
  }

  close(): void {}

  /** As MetadLink: a placement metad answered brings its signed state. */
  private learned(placement: Promise<SignedPlacement>): Promise<SignedPlacement> {
    return placement.then((p) => {
      this.credentials.rememberState(p.signedState);
      return p;
    });
  }

  private call<T>(label: string, fn: () => T): Promise<T> {
    return this.net.call(this.id, this.inc, label, this.timeoutMs, fn);
  }
}
