import { assert } from '@basalt/stdx';
import type { AddRebuildingCommand, DropReplicaCommand, MarkServerDownCommand, MarkServerOutCommand } from './commands.js';
import { attentionExtents } from './attention.js';
import { compareStrings } from './order.js';
import { placeReplicas, type PlacementCandidate } from './placement.js';
import type { ExtentRecord, ServerRecord, StateData, VolumeRecord } from './records.js';

/**
 * The repair planner: metad's leader runs one round about once a second and proposes what it
 * returns, in order. Pure: the replicated state plus the leader-local facts in `PlannerFacts`.
 *
 * Rules, in the order a round applies them:
 * 1. Liveness. An up server not heard from for `downAfterMs` is marked down; a down server
 *    whose `stateSinceMs` is `downOutIntervalMs` old is marked out. Down is not out: a down
 *    server keeps every membership, and extents whose members are merely down wait for them.
 *    A round with such changes returns only them: the next round plans on the new states, so
 *    every command of a round applies in order to the state it was planned on.
 * 2. Per extent, at most one command per round (each is decided at the extent's epoch), extents
 *    with the fewest active members on up servers first (one left before two):
 *    a. a rebuilding member on a server that is down or out is dropped;
 *    b. an active member on an out server is dropped (never the last active one);
 *    c. a draining active member is dropped once the members that stay (active, not draining,
 *       not out) and are up reach the factor: a drain adds before it drops, never below it;
 *    d. when the staying members plus the rebuilding ones are fewer than the factor, one
 *       rebuilding member is added. First choice: a `former` member that is up (a catch-up
 *       copies only what changed); a former member that is merely down, up but suspect
 *       (reported failed and not heard from since), or up but already the target of as many
 *       copies as allowed, is waited for. Else a new server: up, not draining, not suspect, not
 *       in the set, with room for the extent (its free bytes as last reported, less what metad
 *       placed on it since), distinct zones first, then most free
 *       bytes (placeReplicas). The target may have fewer than `copiesPerServerMax` rebuilding
 *       members and the primary (the copy's source, which must be up) fewer than that many
 *       extents with rebuilding members.
 * 3. At most `actionsMax` commands per round.
 *
 * Invariants of a plan (checkPlan asserts them): distinct extents; no drop of the last active
 * member; no drop of an active member on an up, not draining server; a draining member dropped
 * only with the factor staying; targets and sources within their copy limits.
 */
export interface PlannerFacts {
  /** The leader's wall clock: recorded in the commands and compared with stateSinceMs. */
  readonly nowMs: number;
  /** Milliseconds since the leader last heard each server; a server absent was just heard (a new leader's grace). */
  readonly silentMs: ReadonlyMap<string, number>;
  /**
   * Servers a primary or client reported failed (DropReplica) that the leader has not heard from
   * since: never a copy target. A server just dropped for silence is not added back before it
   * speaks again (before liveness marks it down, it is still up in the state).
   */
  readonly suspect: ReadonlySet<string>;
  readonly downAfterMs: number;
  readonly downOutIntervalMs: number;
  readonly actionsMax: number;
  readonly copiesPerServerMax: number;
}

/**
 * PlannerFacts.suspect from the leader's memory: servers reported failed (DropReplica) at or after
 * the last time the leader heard from them, on one clock.
 */
export function suspectServers(reportedFailedAt: ReadonlyMap<string, number>, lastHeard: ReadonlyMap<string, number>): Set<string> {
  const out = new Set<string>();
  for (const [id, at] of reportedFailedAt) if (at >= (lastHeard.get(id) ?? -Infinity)) out.add(id);
  return out;
}

export type PlannedCommand = MarkServerDownCommand | MarkServerOutCommand | DropReplicaCommand | AddRebuildingCommand;

interface Candidate {
  readonly volume: VolumeRecord;
  readonly index: number;
  readonly extent: ExtentRecord;
  /** Active members on up servers: the sort key, fewest first. */
  readonly upActive: number;
}

/** Copies planned per server, as the source (primary) and as the target; updated as the round plans. */
interface CopyLoad {
  readonly asSource: Map<string, number>;
  readonly asTarget: Map<string, number>;
}

export function planRepairs(data: StateData, facts: PlannerFacts): PlannedCommand[] {
  const changes = livenessChanges(data, facts);
  if (changes.length > 0) return changes.slice(0, facts.actionsMax);
  const plan: PlannedCommand[] = [];
  const load = copyLoad(data);
  for (const c of candidates(data)) {
    if (plan.length >= facts.actionsMax) break;
    const cmd = extentAction(data, c, facts, load);
    if (cmd !== null) plan.push(cmd);
  }
  return plan;
}

/** Rule 1: down after silence, out after the down-out interval (servers by id). */
function livenessChanges(data: StateData, facts: PlannerFacts): PlannedCommand[] {
  const changes: PlannedCommand[] = [];
  for (const server of [...data.servers.values()].sort((a, b) => compareStrings(a.id, b.id))) {
    const silent = facts.silentMs.get(server.id) ?? 0;
    if (server.state === 'up' && silent > facts.downAfterMs) changes.push({ type: 'markServerDown', serverId: server.id, nowMs: facts.nowMs });
    if (server.state === 'down' && facts.nowMs - server.stateSinceMs >= facts.downOutIntervalMs) changes.push({ type: 'markServerOut', serverId: server.id, nowMs: facts.nowMs });
  }
  return changes;
}

/** Extents with rebuilding members are all in the attention index. */
function copyLoad(data: StateData): CopyLoad {
  const load: CopyLoad = { asSource: new Map(), asTarget: new Map() };
  for (const [, , extent] of attentionExtents(data)) {
    if (extent.rebuilding.length === 0) continue;
    bump(load.asSource, extent.replicas[0] as string);
    for (const id of extent.rebuilding) bump(load.asTarget, id);
  }
  return load;
}

function bump(counts: Map<string, number>, id: string): void {
  counts.set(id, (counts.get(id) ?? 0) + 1);
}

/**
 * Extents that may need a command, most degraded first, then by volume name and index. Only the
 * attention index is read (it holds every extent mayNeedAction accepts): a round's work grows
 * with the extents that are not healthy, not with the state.
 */
function candidates(data: StateData): Candidate[] {
  const found: Candidate[] = [];
  for (const [volume, index, extent] of attentionExtents(data)) {
    if (!mayNeedAction(data, volume, extent)) continue;
    const upActive = extent.replicas.filter((id) => stateOf(data, id) === 'up').length;
    found.push({ volume, index, extent, upActive });
  }
  return found.sort((a, b) => a.upActive - b.upActive || compareStrings(a.volume.name, b.volume.name) || a.index - b.index);
}

/** The planner's own filter within the attention index (a down member alone is waited for). */
function mayNeedAction(data: StateData, volume: VolumeRecord, extent: ExtentRecord): boolean {
  if (extent.rebuilding.length > 0 || extent.replicas.length !== volume.replicationFactor) return true;
  return extent.replicas.some((id) => {
    const server = data.servers.get(id);
    return server === undefined || server.state === 'out' || server.draining;
  });
}

function stateOf(data: StateData, id: string): ServerRecord['state'] | undefined {
  return data.servers.get(id)?.state;
}

/** Rule 2: the one command for this extent this round, or null. */
function extentAction(data: StateData, c: Candidate, facts: PlannerFacts, load: CopyLoad): PlannedCommand | null {
  const { volume, index, extent } = c;
  const drop = (serverId: string, reason: string): DropReplicaCommand => ({ type: 'dropReplica', name: volume.name, index, serverId, expectedEpoch: extent.epoch, reason });
  const lostTarget = extent.rebuilding.find((id) => stateOf(data, id) !== 'up');
  if (lostTarget !== undefined) return drop(lostTarget, 'rebuild_target_down');
  const outMember = extent.replicas.find((id) => stateOf(data, id) === 'out');
  if (outMember !== undefined && extent.replicas.length > 1) return drop(outMember, 'out');
  const staying = extent.replicas.filter((id) => staysIn(data.servers.get(id)));
  const draining = extent.replicas.find((id) => data.servers.get(id)?.draining === true);
  const stayingUp = staying.filter((id) => stateOf(data, id) === 'up').length;
  if (draining !== undefined && stayingUp >= volume.replicationFactor) return drop(draining, 'drained');
  if (staying.length + extent.rebuilding.length >= volume.replicationFactor) return null;
  return addRebuilding(data, c, facts, load);
}

/** Active members that count toward the factor for good: not out and not being drained (down counts: down is not out). */
function staysIn(server: ServerRecord | undefined): boolean {
  return server !== undefined && server.state !== 'out' && !server.draining;
}

function addRebuilding(data: StateData, c: Candidate, facts: PlannerFacts, load: CopyLoad): AddRebuildingCommand | null {
  const { volume, index, extent } = c;
  const source = extent.replicas[0] as string;
  if (stateOf(data, source) !== 'up' || (load.asSource.get(source) ?? 0) >= facts.copiesPerServerMax) return null;
  const target = chooseTarget(data, extent, volume.extentSizeBytes, facts, load);
  if (target === null) return null;
  bump(load.asSource, source);
  bump(load.asTarget, target);
  return { type: 'addRebuilding', name: volume.name, index, serverId: target, expectedEpoch: extent.epoch };
}

/**
 * A former member that is up first; none while one is merely down, suspect or busy with other
 * copies (wait: its catch-up is cheaper than a whole copy elsewhere); else placement.
 */
function chooseTarget(data: StateData, extent: ExtentRecord, extentSizeBytes: number, facts: PlannerFacts, load: CopyLoad): string | null {
  const receives = (s: ServerRecord | undefined): s is ServerRecord => s !== undefined && s.state === 'up' && !s.draining;
  const eligible = (s: ServerRecord | undefined): s is ServerRecord => receives(s) && !facts.suspect.has(s.id) && (load.asTarget.get(s.id) ?? 0) < facts.copiesPerServerMax;
  const catchUps = extent.former.filter((id) => !extent.rebuilding.includes(id));
  for (const id of catchUps) {
    const server = data.servers.get(id);
    if (eligible(server)) return id;
  }
  if (catchUps.some((id) => stateOf(data, id) === 'down' || receives(data.servers.get(id)))) return null;
  const members = new Set([...extent.replicas, ...extent.rebuilding]);
  const existing = [...members].map((id) => placementOf(data.servers.get(id)));
  // A new copy needs room for the whole extent (a former member's file is already there).
  const pool = [...data.servers.values()].filter((s) => eligible(s) && !members.has(s.id) && s.freeBytes >= extentSizeBytes).map(placementOf);
  if (pool.length === 0) return null;
  const chosen = placeReplicas({ candidates: pool, count: 1, existing });
  assert(chosen !== null && chosen.length === 1, 'placement refused one target out of a non-empty pool');
  return chosen[0] as string;
}

function placementOf(server: ServerRecord | undefined): PlacementCandidate {
  assert(server !== undefined, 'a member on an unknown server');
  return { id: server.id, zone: server.zone, freeBytes: server.freeBytes, extentCount: server.extentCount };
}
