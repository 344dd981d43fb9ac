import { suspectServers } from '../state/index.js';
import type { RaftHost } from './raft-host.js';

/** What a chunk server said in its last heartbeat (proto HeartbeatRequest), kept by the leader only. */
export interface HeartbeatFacts {
  readonly freeBytes: number;
  readonly copiesRunning: number;
  readonly bytesLeft: number;
  readonly bytesCopied: number;
  readonly rateBytesPerSec: number;
  readonly scrubLastPassMs: number;
  readonly scrubRepairedBlocks: number;
  /** Bytes on disk of each volume's extent files on that server, by volume id. */
  readonly volumeStoredBytes: ReadonlyMap<number, number>;
  /** The leader's wall clock when it heard this. */
  readonly heardAtMs: number;
}

/**
 * The leader's memory of chunk servers. Heartbeats are not Raft proposals: the leader remembers
 * (on its monotonic clock) when it last heard each server, and what the server reported, and
 * the repair loop turns silence into state changes (repair-planner.ts). Nothing here is
 * replicated: a new leader starts empty and gives every server a full grace period from the
 * moment it became leader.
 */
export class ChunkServerLiveness {
  private readonly lastHeard = new Map<string, number>();
  /** When a member or client last reported the server failed (DropReplica). */
  private readonly reportedFailedAt = new Map<string, number>();
  private readonly facts = new Map<string, HeartbeatFacts>();
  private leaderSince = performance.now();

  constructor(host: RaftHost, readonly heartbeatIntervalMs: number) {
    host.onLeadershipChange(() => {
      this.lastHeard.clear();
      this.reportedFailedAt.clear();
      this.facts.clear();
      this.leaderSince = performance.now();
    });
  }

  heard(serverId: string, facts?: HeartbeatFacts): void {
    this.lastHeard.set(serverId, performance.now());
    if (facts !== undefined) this.facts.set(serverId, facts);
  }

  /** The server's last heartbeat facts, if this leader has heard one. */
  factsOf(serverId: string): HeartbeatFacts | undefined {
    return this.facts.get(serverId);
  }

  /** A primary or client reported the server failed: suspect until the leader hears from it again. */
  reportedFailed(serverId: string): void {
    this.reportedFailedAt.set(serverId, performance.now());
  }

  /** Servers reported failed since the leader last heard from them (PlannerFacts.suspect). */
  suspect(): Set<string> {
    return suspectServers(this.reportedFailedAt, this.lastHeard);
  }

  /** Forgets a removed server. */
  forget(serverId: string): void {
    this.lastHeard.delete(serverId);
    this.reportedFailedAt.delete(serverId);
    this.facts.delete(serverId);
  }

  /** Milliseconds each known server has been silent (since leadership began, for one not heard yet). */
  silentMs(serverIds: Iterable<string>): Map<string, number> {
    const now = performance.now();
    const silent = new Map<string, number>();
    for (const id of serverIds) silent.set(id, Math.round(now - (this.lastHeard.get(id) ?? this.leaderSince)));
    return silent;
  }

  /** Bytes on disk of a volume's extent files, summed over the servers' last heartbeats. */
  storedBytes(volumeId: number): number {
    let bytes = 0;
    for (const f of this.facts.values()) bytes += f.volumeStoredBytes.get(volumeId) ?? 0;
    return bytes;
  }

  /** Bytes on disk of every volume, summed over the servers' last heartbeats. */
  totalStoredBytes(): number {
    let bytes = 0;
    for (const f of this.facts.values()) for (const b of f.volumeStoredBytes.values()) bytes += b;
    return bytes;
  }

  /** Repair bytes left and rate, summed over the servers' last heartbeats. */
  repairTotals(): { bytesLeft: number; rateBytesPerSec: number } {
    let bytesLeft = 0;
    let rateBytesPerSec = 0;
    for (const f of this.facts.values()) {
      bytesLeft += f.bytesLeft;
      rateBytesPerSec += f.rateBytesPerSec;
    }
    return { bytesLeft, rateBytesPerSec };
  }
}
