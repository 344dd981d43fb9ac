import type { ReplicaRef } from '@basalt/wire';
import type { SnapshotMark } from './snapshot-chain.js';

/**
 * What a chunk server knows about one extent replica it holds. Persisted in the LevelDB index
 * (the version only at clean shutdown and on epoch changes; see docs/data-path.md).
 */
export interface ReplicaMeta {
  readonly volumeId: number;
  readonly index: number;
  readonly extentSizeBytes: number;
  /** Highest epoch seen for this extent. Never decreases. */
  readonly epoch: number;
  /** Replica set at `epoch`, primary first. Empty when fenced by a set without this server. */
  readonly replicas: readonly ReplicaRef[];
  /** Count of mutations applied (writes, trims, zeroes); grows by one per mutation. */
  readonly version: number;
  /** 'fenced': a newer epoch excluded this server; the replica refuses all I/O. */
  readonly state: 'active' | 'fenced';
  /**
   * Set at open after a power loss (unclean shutdown, another boot): the checksum slots of blocks
   * written since the last sync may not describe their data. Cleared once the store settled the
   * replica (re-read every block; ExtentStore.stamps).
   */
  readonly suspect?: boolean;
  /** Snapshots of this extent, oldest first (snapshot-chain.ts); absent when there are none. */
  readonly snapshots?: readonly SnapshotMark[];
}

export function extentKey(volumeId: number, index: number): string {
  return `${volumeId}/${index}`;
}

export function sameReplicas(a: readonly ReplicaRef[], b: readonly ReplicaRef[]): boolean {
  return a.length === b.length && a.every((r, i) => r.serverId === b[i]!.serverId && r.address === b[i]!.address && (r.rebuilding === true) === (b[i]!.rebuilding === true));
}
