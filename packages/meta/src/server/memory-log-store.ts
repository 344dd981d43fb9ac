import { assert } from '@basalt/stdx';
import type { Entry, Snapshot } from '@basalt/raft';
import { checkPersistedLog } from './log-check.js';
import { emptyHardState, emptySnapshot } from './log-store.js';
import type { LogStore, LogUpdate, PersistedLog } from './log-store.js';

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

  saveSnapshot(snapshot: Snapshot, compactIndex: number): Promise<void> {
    const log = this.disk.current;
    assert(compactIndex <= snapshot.meta.index, 'compaction beyond the snapshot');
    assert(snapshot.meta.index <= lastIndex(log), 'snapshot beyond the stored log');
    log.snapshot = snapshot;
    log.entries = log.entries.filter((e) => e.index > compactIndex);
    this.disk.synced = copyLog(log);
    return Promise.resolve();
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
