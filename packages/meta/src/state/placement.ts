import { assert } from '@basalt/stdx';
import { compareStrings } from './order.js';

/** What the planner needs to know about a server. */
export interface PlacementCandidate {
  readonly id: string;
  readonly zone: string;
  readonly freeBytes: number;
  readonly extentCount: number;
}

export interface PlacementRequest {
  /** Servers that may receive a replica (up, not draining). */
  readonly candidates: readonly PlacementCandidate[];
  /** Replicas to add. */
  readonly count: number;
  /** Servers already in the replica set: never chosen again, and their zones count as used. */
  readonly existing: readonly PlacementCandidate[];
}

/**
 * Chooses `count` servers for new replicas: first one per zone not yet used, then, when there
 * are fewer zones than replicas, the best remaining servers. "Best" is most free bytes, then
 * fewest extents, then the smaller id, so equal inputs give equal plans on every replica.
 * Returns the ids in the order chosen (the first is the best), or null when fewer than
 * `count` servers are eligible. Allocation calls it with no existing replicas; the repair planner
 * calls it with the members of a degraded set.
 */
export function placeReplicas(request: PlacementRequest): string[] | null {
  assert(Number.isSafeInteger(request.count) && request.count >= 0, `bad replica count ${request.count}`);
  const taken = new Set(request.existing.map((s) => s.id));
  const ranked = request.candidates.filter((s) => !taken.has(s.id)).sort(compareCandidates);
  if (ranked.length < request.count) return null;
  const usedZones = new Set(request.existing.map((s) => s.zone));
  const chosen: PlacementCandidate[] = [];
  for (const server of ranked) {
    if (chosen.length === request.count) break;
    if (usedZones.has(server.zone)) continue;
    usedZones.add(server.zone);
    chosen.push(server);
  }
  for (const server of ranked) {
    if (chosen.length === request.count) break;
    if (!chosen.includes(server)) chosen.push(server);
  }
  assert(chosen.length === request.count, 'placement chose too few servers');
  return chosen.map((s) => s.id);
}

function compareCandidates(a: PlacementCandidate, b: PlacementCandidate): number {
  if (a.freeBytes !== b.freeBytes) return b.freeBytes - a.freeBytes;
  if (a.extentCount !== b.extentCount) return a.extentCount - b.extentCount;
  return compareStrings(a.id, b.id);
}
