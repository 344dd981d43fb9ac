import { Level } from 'level';
import { BasaltError, ErrorCode, assert } from '@basalt/stdx';
import type { Entry, Snapshot } from '@basalt/raft';
import { checkPersistedLog } from './log-check.js';
import { emptyHardState, emptySnapshot } from './log-store.js';
import type { LogStore, LogUpdate, PersistedLog } from './log-store.js';
import { decodeEntry, decodeHardState, decodeSnapshotRecord, encodeEntry, encodeHardState, encodeSnapshot } from './raft-codec.js';

/**
 * The Raft log in LevelDB. Keys: "h" the hard state, "s" the latest snapshot, "e" + 16-digit
 * index an entry (so keys sort by index). Every call is one LevelDB batch, so it is atomic;
 * with `sync` the batch is written with `sync: true` (LevelDB fdatasyncs its write-ahead log
 * before the batch resolves), which is what makes a Ready durable before its messages go out.
 */
export class LevelLogStore implements LogStore {
  private readonly db: Level<string, Uint8Array>;
  /** Index range of the entries on disk: [firstIndex, lastIndex]; empty when lastIndex < firstIndex. */
  private firstIndex = 1;
  private lastIndex = 0;

  constructor(readonly path: string) {
    this.db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
  }

  async load(): Promise<PersistedLog> {
    await this.db.open();
    const hs = await this.db.get('h');
    const snap = await this.db.get('s');
    const log: PersistedLog = {
      hardState: hs === undefined ? { ...emptyHardState } : decodeHardState(hs),
      snapshot: snap === undefined ? emptySnapshot() : decodeSnapshotRecord(snap),
      entries: [],
    };
    const all = await this.readEntries();
    this.firstIndex = all[0]?.index ?? log.snapshot.meta.index + 1;
    this.lastIndex = all[all.length - 1]?.index ?? log.snapshot.meta.index;
    log.entries = all.filter((e) => e.index > log.snapshot.meta.index);
    checkPersistedLog(log, this.path);
    return log;
  }

  async save(update: LogUpdate, sync: boolean): Promise<void> {
    const batch = this.db.batch();
    if (update.snapshot !== undefined) {
      this.deleteRange(batch, this.firstIndex, this.lastIndex);
      batch.put('s', encodeSnapshot(update.snapshot));
      this.firstIndex = update.snapshot.meta.index + 1;
      this.lastIndex = update.snapshot.meta.index;
    }
    this.appendEntries(batch, update.entries);
    if (update.hardState !== undefined) batch.put('h', encodeHardState(update.hardState));
    if (batch.length > 0) await batch.write({ sync });
    else await batch.close();
  }

  async saveSnapshot(snapshot: Snapshot, compactIndex: number): Promise<void> {
    assert(compactIndex <= snapshot.meta.index, 'compaction beyond the snapshot');
    assert(snapshot.meta.index <= this.lastIndex, 'snapshot beyond the stored log');
    const batch = this.db.batch();
    batch.put('s', encodeSnapshot(snapshot));
    this.deleteRange(batch, this.firstIndex, compactIndex);
    await batch.write({ sync: true });
    this.firstIndex = Math.max(this.firstIndex, compactIndex + 1);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  private appendEntries(batch: ReturnType<Level<string, Uint8Array>['batch']>, entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index <= this.lastIndex + 1, `append at ${first.index} leaves a gap after ${this.lastIndex}`);
    const last = entries[entries.length - 1] as Entry;
    this.deleteRange(batch, last.index + 1, this.lastIndex);
    for (const e of entries) batch.put(entryKey(e.index), encodeEntry(e));
    if (this.lastIndex < this.firstIndex) this.firstIndex = first.index;
    this.lastIndex = last.index;
  }

  private deleteRange(batch: ReturnType<Level<string, Uint8Array>['batch']>, from: number, to: number): void {
    for (let i = Math.max(from, this.firstIndex); i <= to; i++) batch.del(entryKey(i));
  }

  private async readEntries(): Promise<Entry[]> {
    const out: Entry[] = [];
    for await (const [key, value] of this.db.iterator({ gte: 'e', lt: 'f' })) {
      const entry = decodeEntry(value);
      if (entry === undefined || entryKey(entry.index) !== key) {
        throw new BasaltError(ErrorCode.Io, `corrupt Raft log in ${this.path}: unreadable entry at key ${key}`, { path: this.path });
      }
      out.push(entry);
    }
    return out;
  }
}

function entryKey(index: number): string {
  return `e${index.toString().padStart(16, '0')}`;
}
