import type { Entry, HardState, Snapshot, SnapshotMeta } from '@basalt/raft';

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
   * Starts writing a snapshot taken locally, in pieces: nothing of it is part of the log until
   * its sink commits, and a crash before then leaves the previous snapshot in place.
   */
  beginSnapshot(): SnapshotSink;
  /** The latest snapshot with its whole data, read back (to send it to a follower). */
  readSnapshot(): Promise<Snapshot>;
  close(): Promise<void>;
}

/**
 * One local snapshot being written. Calls are made one at a time, in order; a sink is used
 * once: commit or abort ends it.
 */
export interface SnapshotSink {
  /** Adds `pieces` to the end of the snapshot's data (not durable, not visible, until commit). */
  append(pieces: readonly Uint8Array[]): Promise<void>;
  /**
   * Records the snapshot whose data is `head` followed by every appended piece (covering entries
   * up to meta.index, which must be stored) and discards entries up to `compactIndex`
   * (<= meta.index), atomically, synced. 'out_of_date' changes nothing (the pieces are dropped)
   * when the store already holds a snapshot at meta.index or later (one received meanwhile).
   */
  commit(meta: SnapshotMeta, head: Uint8Array, compactIndex: number): Promise<'saved' | 'out_of_date'>;
  /** Drops the appended pieces. */
  abort(): Promise<void>;
}

export const emptyHardState: HardState = { term: 0, vote: '', commit: 0 };

export function emptySnapshot(): Snapshot {
  return { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) };
}

/** Records a whole snapshot taken locally: beginSnapshot() and commit with the data as the head. */
export function saveSnapshot(store: LogStore, snapshot: Snapshot, compactIndex: number): Promise<'saved' | 'out_of_date'> {
  return store.beginSnapshot().commit(snapshot.meta, snapshot.data, compactIndex);
}
