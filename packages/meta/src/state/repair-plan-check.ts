import { AssertionError } from '@basalt/stdx';
import type { PlannedCommand, PlannerFacts } from './repair-planner.js';
import type { ExtentRecord, StateData, VolumeRecord } from './records.js';

/**
 * Asserts the invariants of one planner round's plan against the state it was planned on (see
 * repair-planner.ts): at most actionsMax commands; one command per extent; no drop of the last
 * active member; no drop of an active member on an up, not draining server; a draining member
 * dropped only while the factor stays on up servers; targets up, not draining, outside the set,
 * and no server over copiesPerServerMax as a target or a source. For tests and simulations.
 */
export function checkPlan(data: StateData, facts: PlannerFacts, plan: readonly PlannedCommand[]): void {
  check(plan.length <= facts.actionsMax, `plan has ${plan.length} commands, more than ${facts.actionsMax}`);
  const touched = new Set<string>();
  const targets = new Map<string, number>();
  const sources = new Map<string, number>();
  for (const volume of data.volumes.values()) {
    for (const extent of volume.extents.values()) {
      if (extent.rebuilding.length === 0) continue;
      count(sources, extent.replicas[0] as string);
      for (const id of extent.rebuilding) count(targets, id);
    }
  }
  for (const cmd of plan) {
    if (cmd.type === 'markServerDown' || cmd.type === 'markServerOut') continue;
    const key = `${cmd.name}/${cmd.index}`;
    check(!touched.has(key), `plan has two commands for extent ${key}`);
    touched.add(key);
    const volume = data.volumes.get(cmd.name);
    const extent = volume?.extents.get(cmd.index);
    check(volume !== undefined && extent !== undefined && extent.epoch === cmd.expectedEpoch, `plan names extent ${key} at a wrong epoch`);
    if (cmd.type === 'dropReplica') checkDrop(data, volume, extent, cmd.serverId, key);
    else checkAdd(data, extent, cmd.serverId, key, facts, { targets, sources });
  }
}

function checkDrop(data: StateData, volume: VolumeRecord, extent: ExtentRecord, serverId: string, key: string): void {
  if (extent.rebuilding.includes(serverId)) return;
  check(extent.replicas.includes(serverId), `plan drops ${serverId}, not a member of ${key}`);
  check(extent.replicas.length > 1, `plan drops the last active member ${serverId} of ${key}`);
  const server = data.servers.get(serverId);
  check(server !== undefined && (server.state === 'out' || server.draining), `plan drops ${serverId} of ${key}, which is neither out nor draining`);
  if (server.state === 'out') return;
  const stayingUp = extent.replicas.filter((id) => {
    const s = data.servers.get(id);
    return id !== serverId && s !== undefined && s.state === 'up' && !s.draining;
  }).length;
  check(stayingUp >= volume.replicationFactor, `plan drains ${serverId} off ${key} with ${stayingUp} members staying, below the factor ${volume.replicationFactor}`);
}

function checkAdd(data: StateData, extent: ExtentRecord, serverId: string, key: string, facts: PlannerFacts, load: { targets: Map<string, number>; sources: Map<string, number> }): void {
  const server = data.servers.get(serverId);
  check(server !== undefined && server.state === 'up' && !server.draining, `plan copies ${key} to ${serverId}, which is not up or is draining`);
  check(!extent.replicas.includes(serverId) && !extent.rebuilding.includes(serverId), `plan adds ${serverId} to ${key} twice`);
  count(load.targets, serverId);
  count(load.sources, extent.replicas[0] as string);
  check((load.targets.get(serverId) ?? 0) <= facts.copiesPerServerMax, `plan targets ${serverId} with more than ${facts.copiesPerServerMax} copies`);
  check((load.sources.get(extent.replicas[0] as string) ?? 0) <= facts.copiesPerServerMax, `plan has ${extent.replicas[0]} source more than ${facts.copiesPerServerMax} copies`);
}

function count(counts: Map<string, number>, id: string): void {
  counts.set(id, (counts.get(id) ?? 0) + 1);
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(`repair plan: ${message}`);
}
