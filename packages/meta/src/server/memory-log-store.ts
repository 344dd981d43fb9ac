import { assert } from '@basalt/stdx';
import type { Entry, Snapshot, SnapshotMeta } from '@basalt/raft';
import { concatPieces } from '../state/index.js';
import { checkPersistedLog } from './log-check.js';
import { emptyHardState, emptySnapshot } from './log-store.js';
import type { LogStore, LogUpdate, PersistedLog, SnapshotSink } from './log-store.js';

/**
 * What a MemoryLogStore keeps across "restarts": pass the same disk to a new store to model a
 * process restart; call crash() first to model a machine crash (unsynced writes are lost).
 */
export class MemoryDisk {
  synced: PersistedLog = { hardState: { ...emptyHardState }, snapshot: emptySnapshot(), entries: [] };
  current: PersistedLog = { hardState: { ...emptyHardState }, snapshot: emptySnapshot(), entries: [] };

  /** Loses everything not synced. */
  crash(): void {
    this.current = copyLog(this.synced);
  }
}

/** An in-memory LogStore with the same semantics as LevelLogStore (see LogStore). */
export class MemoryLogStore implements LogStore {
  constructor(readonly disk = new MemoryDisk()) {}

  load(): Promise<PersistedLog> {
    const log = copyLog(this.disk.current);
    log.entries = log.entries.filter((e) => e.index > log.snapshot.meta.index);
    try {
      checkPersistedLog(log, 'memory');
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return Promise.resolve(log);
  }

  save(update: LogUpdate, sync: boolean): Promise<void> {
    const log = this.disk.current;
    if (update.snapshot !== undefined) installSnapshot(log, update.snapshot);
    appendEntries(log, update.entries);
    if (update.hardState !== undefined) log.hardState = { ...update.hardState };
    if (sync) this.disk.synced = copyLog(log);
    return Promise.resolve();
  }

  beginSnapshot(): SnapshotSink {
    const pieces: Uint8Array[] = [];
    return {
      append: (more) => {
        pieces.push(...more.map((p) => p.slice()));
        return Promise.resolve();
      },
      commit: (meta, head, compactIndex) => Promise.resolve(this.commitSnapshot(meta, concatPieces([head, ...pieces]), compactIndex)),
      abort: () => Promise.resolve(),
    };
  }

  readSnapshot(): Promise<Snapshot> {
    return Promise.resolve(this.disk.current.snapshot);
  }

  private commitSnapshot(meta: SnapshotMeta, data: Uint8Array, compactIndex: number): 'saved' | 'out_of_date' {
    const log = this.disk.current;
    assert(compactIndex <= meta.index, 'compaction beyond the snapshot');
    if (meta.index <= log.snapshot.meta.index) return 'out_of_date';
    assert(meta.index <= lastIndex(log), 'snapshot beyond the stored log');
    log.snapshot = { meta, data };
    log.entries = log.entries.filter((e) => e.index > compactIndex);
    this.disk.synced = copyLog(log);
    return 'saved';
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function installSnapshot(log: PersistedLog, snapshot: Snapshot): void {
  log.snapshot = snapshot;
  log.entries = [];
}

function appendEntries(log: PersistedLog, entries: readonly Entry[]): void {
  if (entries.length === 0) return;
  const first = (entries[0] as Entry).index;
  assert(first <= lastIndex(log) + 1, `append at ${first} leaves a gap after ${lastIndex(log)}`);
  log.entries = log.entries.filter((e) => e.index < first).concat(entries.map((e) => ({ ...e })));
}

function lastIndex(log: PersistedLog): number {
  const last = log.entries[log.entries.length - 1];
  return last === undefined ? log.snapshot.meta.index : last.index;
}

function copyLog(log: PersistedLog): PersistedLog {
  return { hardState: { ...log.hardState }, snapshot: log.snapshot, entries: log.entries.map((e) => ({ ...e })) };
}
