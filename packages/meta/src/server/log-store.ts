import type { Entry, HardState, Snapshot } from '@basalt/raft';

/** Everything a member has made durable: the state Raft restarts from. */
export interface PersistedLog {
  hardState: HardState;
  /** The latest snapshot (meta.index 0 when none was ever taken or received). */
  snapshot: Snapshot;
  /** Invariant: contiguous, and the first has index snapshot.meta.index + 1 (older ones are not loaded). */
  entries: Entry[];
}

/** One Ready's worth of state to make durable, written atomically. */
export interface LogUpdate {
  /** A snapshot received from the leader: it replaces the whole log. Applied before `entries`. */
  snapshot?: Snapshot;
  /** New entries; any stored entry at or after the first one's index is replaced (a conflicting suffix). */
  entries: readonly Entry[];
  hardState?: HardState;
}

/**
 * The durable side of a member's Raft log: hard state, entries and the latest snapshot.
 * Implementations: MemoryLogStore (tests, simulations) and LevelLogStore (metad). Both pass
 * log-store.conformance.ts.
 *
 * Fault model: a call that resolved with `sync: true` survives a crash of the process and of
 * the machine; an unsynced call survives a crash of the process only. A call is atomic: after
 * a crash, either all of it or none of it is there. load() checks the invariants and throws
 * BASALT_IO on a store that breaks them (corruption), rather than starting from a wrong log.
 */
export interface LogStore {
  load(): Promise<PersistedLog>;
  /** Makes `update` durable; with `sync`, resolves only after an fdatasync. */
  save(update: LogUpdate, sync: boolean): Promise<void>;
  /**
   * Records a snapshot taken locally (covering entries up to snapshot.meta.index, which must be
   * stored) and discards entries up to `compactIndex` (<= the snapshot's index), atomically, synced.
   */
  saveSnapshot(snapshot: Snapshot, compactIndex: number): Promise<void>;
  close(): Promise<void>;
}

export const emptyHardState: HardState = { term: 0, vote: '', commit: 0 };

export function emptySnapshot(): Snapshot {
  return { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) };
}
