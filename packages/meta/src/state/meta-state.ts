import { limits } from '@basalt/stdx';
import { applyCommand } from './apply.js';
import type { Command, CommandValue, DropReplicaCommand } from './commands.js';
import { digest64 } from './hash.js';
import { checkDerived, checkInvariants } from './invariants.js';
import * as queries from './queries.js';
import { emptyStateData, type StateData } from './records.js';
import type { Result } from './result.js';
import { decodeStateData, encodeStateData, stateDataPieces } from './snapshot.js';
import type { TenantView, ClusterCounts, DegradedReport, ExtentMapView, ExtentRef, RedundancyCounts, RepairTaskView, ServerView, SnapshotView, VolumePage, VolumeView } from './views.js';
import { planRepairs, type PlannedCommand, type PlannerFacts } from './repair-planner.js';
import { checkPlan } from './repair-plan-check.js';
import { decideDropReport, decideFailover, type DropReport } from './drop-report.js';

/**
 * The replicated metadata: chunk servers, volumes, extent replica sets, writer leases.
 * Deterministic: the same commands in the same order give the same state (and hash()) on
 * every replica. Only apply() changes it; queries return immutable views.
 */
export class MetaState {
  private constructor(private readonly data: StateData) {}

  /** An empty state: the state of a fresh cluster before its first log entry. */
  static empty(): MetaState {
    return new MetaState(emptyStateData());
  }

  /** A state from encodeSnapshot() bytes; asserts on corrupt bytes. */
  static decodeSnapshot(bytes: Uint8Array): MetaState {
    const data = decodeStateData(bytes);
    checkInvariants(data);
    return new MetaState(data);
  }

  /** Canonical bytes of the whole state (equal states give equal bytes). */
  encodeSnapshot(): Uint8Array {
    return encodeStateData(this.data);
  }

  /**
   * encodeSnapshot()'s bytes in pieces, `volumesPerSlice` volumes per step (see stateDataPieces):
   * the caller may yield between steps but must not change the state until the generator is done.
   */
  encodeSnapshotPieces(volumesPerSlice: number): Generator<Uint8Array[], void, undefined> {
    return stateDataPieces(this.data, volumesPerSlice);
  }

  /** A 16-hex-digit digest of encodeSnapshot(), taken piece by piece; replicas compare it. */
  hash(): string {
    return digest64(flatten(stateDataPieces(this.data, Number.POSITIVE_INFINITY)));
  }

  /** Applies one committed command. Never throws on bad input: a refusal leaves the state unchanged. */
  apply<C extends Command>(cmd: C): Result<CommandValue<C>> {
    return applyCommand(this.data, cmd);
  }

  /** How many serials the deny list holds; it only grows, so an equal count means an equal list. */
  revokedCount(): number {
    return this.data.revokedSerials.size;
  }

  /** The deny list: serials of revoked certificates, sorted. */
  revokedSerials(): string[] {
    return [...this.data.revokedSerials].sort();
  }

  getVolume(name: string): Result<VolumeView> {
    return queries.getVolume(this.data, name);
  }

  listSnapshots(name: string, includeHidden = false): Result<SnapshotView[]> {
    return queries.listSnapshots(this.data, name, includeHidden);
  }

  snapshotDropped(name: string, id: number): Result<boolean> {
    return queries.snapshotDropped(this.data, name, id);
  }

  getSnapshot(name: string, snapshot: string): Result<SnapshotView> {
    return queries.getSnapshot(this.data, name, snapshot);
  }

  /** All volumes, or only `tenant`'s, by name (at most limits.volumesMax). */
  listVolumes(tenant?: string): VolumeView[] {
    return queries.listVolumes(this.data, tenant);
  }

  /** Up to `limit` volumes (of `tenant`, when given) named after `after` ('' first), by name; `nextAfter` is '' after the last page. */
  listVolumesPage(after: string, limit: number, tenant?: string): VolumePage {
    return queries.listVolumesPage(this.data, after, limit, tenant);
  }

  /** The default tenant, then every other by name, with quotas and usage. */
  listTenants(): TenantView[] {
    return queries.listTenants(this.data);
  }

  getTenant(name: string): Result<TenantView> {
    return queries.getTenant(this.data, name);
  }

  /** Allocated extents of [fromIndex, fromIndex + count); count in 1..limits.extentMapCountMax. */
  extentMap(name: string, fromIndex: number, count: number): Result<ExtentMapView> {
    return queries.extentMap(this.data, name, fromIndex, count);
  }

  getServer(serverId: string): Result<ServerView> {
    return queries.getServer(this.data, serverId);
  }

  /** The id the next volume will get: ids below it that no volume has were deleted (never reused). */
  nextVolumeId(): number {
    return this.data.nextVolumeId;
  }

  /** All chunk servers, by id. */
  listServers(): ServerView[] {
    return queries.listServers(this.data);
  }

  /** Extents with fewer replicas on up servers than their factor: the total and the first `limit`. */
  degradedExtents(limit: number = limits.extentMapCountMax): DegradedReport {
    return queries.degradedExtents(this.data, limit);
  }

  /** Servers by state, volumes, allocated and degraded extents: what metad's gauges show. */
  clusterCounts(): ClusterCounts {
    return queries.clusterCounts(this.data);
  }

  /** Degraded, critical, rebuilding and waiting extents: the replicated part of GetRepairStatus. */
  redundancyCounts(): RedundancyCounts {
    return queries.redundancyCounts(this.data);
  }

  /** Extents with rebuilding members by primary, at most `limit` per primary (ListRepairTasks). */
  repairTasksByPrimary(limit: number = limits.repairTasksPerReplyMax): Map<string, RepairTaskView[]> {
    return queries.repairTasksByPrimary(this.data, limit);
  }

  /**
   * The repair planner's round on this state (see repair-planner.ts): the commands to propose,
   * at most `facts.actionsMax`.
   */
  planRepairs(facts: PlannerFacts): PlannedCommand[] {
    return planRepairs(this.data, facts);
  }

  /** Asserts a plan's invariants against this state (see repair-plan-check.ts). */
  checkPlan(facts: PlannerFacts, plan: readonly PlannedCommand[]): void {
    checkPlan(this.data, facts, plan);
  }

  /** The leader's decision on a failure report: the dropReplica to propose, or the refusal. */
  decideDropReport(report: DropReport): Result<DropReplicaCommand> {
    return decideDropReport(this.data, report);
  }

  /** The leader's decision on a client's report of a silent primary for its whole volume (state/drop-report.ts): the dropReplicas to propose together. */
  decideFailover(report: DropReport, max: number): Result<DropReplicaCommand[]> {
    return decideFailover(this.data, report, max);
  }

  serverExtentCount(serverId: string): Result<number> {
    return queries.serverExtentCount(this.data, serverId);
  }

  /** Up to `limit` extents with a replica on the server, by volume name and index. */
  extentsOnServer(serverId: string, limit: number = limits.extentMapCountMax): Result<ExtentRef[]> {
    return queries.extentsOnServer(this.data, serverId, limit);
  }

  /** Asserts every invariant, the derived indexes' included; O(state). For tests. */
  checkInvariants(): void {
    checkInvariants(this.data);
    checkDerived(this.data);
  }
}

function* flatten(slices: Iterable<Uint8Array[]>): Generator<Uint8Array, void, undefined> {
  for (const slice of slices) yield* slice;
}
