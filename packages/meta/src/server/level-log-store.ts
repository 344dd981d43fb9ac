import { Level } from 'level';
import { BasaltError, ErrorCode, assert, limits } from '@basalt/stdx';
import type { Entry, Snapshot, SnapshotMeta } from '@basalt/raft';
import { concatPieces } from '../state/index.js';
import { checkPersistedLog } from './log-check.js';
import { emptyHardState, emptySnapshot } from './log-store.js';
import type { LogStore, LogUpdate, PersistedLog, SnapshotSink } from './log-store.js';
import { decodeEntry, decodeHardState, decodeSnapshotRecord, encodeEntry, encodeHardState, encodeSnapshot } from './raft-codec.js';

type Batch = ReturnType<Level<string, Uint8Array>['batch']>;

/** Where the latest snapshot's data is: pieces `count` of generation `gen` (piece 0 the head), `bytes` in all. */
interface PiecesRecord {
  gen: number;
  count: number;
  bytes: number;
}

/**
 * The Raft log in LevelDB. Keys: "h" the hard state; "e" + 16-digit index an entry (so keys sort
 * by index); "S" the latest snapshot's record (its meta, and in its data field the JSON of a
 * PiecesRecord) and "p" + 16-digit generation + 8-digit number its data in pieces (piece 0 the
 * head, then the pieces in order). "s" is the record of the format before pieces (the whole
 * data inline): still read when there is no "S", deleted by the next snapshot.
 *
 * Every call ends in one LevelDB batch that makes all of it visible, so it is atomic; with `sync`
 * the batch is written with `sync: true` (LevelDB fdatasyncs its write-ahead log before the batch
 * resolves), which is what makes a Ready durable before its messages go out. A snapshot's pieces
 * (taken locally, or received with a Ready) are written before that batch, in batches of at most
 * limits.metaSnapshotWriteBytes, under a generation no record names yet; the final batch writes
 * the record that names them and deletes the previous generation. LevelDB recovers a prefix of
 * its writes, so after a crash either that batch and every piece before it is there, or the
 * previous record still names the previous pieces. Pieces of a generation no record names (a
 * crash mid-snapshot, an aborted one) are deleted by load().
 */
export class LevelLogStore implements LogStore {
  private readonly db: Level<string, Uint8Array>;
  /** Index range of the entries on disk: [firstIndex, lastIndex]; empty when lastIndex < firstIndex. */
  private firstIndex = 1;
  private lastIndex = 0;
  /** The stored snapshot's index, and its pieces (undefined: none, or the inline format). */
  private snapshotIndex = 0;
  private pieces: PiecesRecord | undefined;
  /** The last generation handed out (each snapshot's pieces get a new one). */
  private gen = 0;

  constructor(readonly path: string) {
    this.db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
  }

  async load(): Promise<PersistedLog> {
    await this.db.open();
    const hs = await this.db.get('h');
    const log: PersistedLog = {
      hardState: hs === undefined ? { ...emptyHardState } : decodeHardState(hs),
      snapshot: await this.readSnapshot(),
      entries: [],
    };
    this.snapshotIndex = log.snapshot.meta.index;
    await this.deleteOrphanPieces();
    const all = await this.readEntries();
    this.firstIndex = all[0]?.index ?? log.snapshot.meta.index + 1;
    this.lastIndex = all[all.length - 1]?.index ?? log.snapshot.meta.index;
    log.entries = all.filter((e) => e.index > log.snapshot.meta.index);
    checkPersistedLog(log, this.path);
    return log;
  }

  async save(update: LogUpdate, sync: boolean): Promise<void> {
    const received = update.snapshot;
    const pieces = received === undefined ? [] : splitPieces(received.data);
    const gen = await this.writePieces(pieces);
    const batch = this.db.batch();
    if (received !== undefined) {
      this.deleteRange(batch, this.firstIndex, this.lastIndex);
      this.putRecord(batch, received.meta, { gen, count: pieces.length, bytes: received.data.length });
      this.firstIndex = received.meta.index + 1;
      this.lastIndex = received.meta.index;
    }
    this.appendEntries(batch, update.entries);
    if (update.hardState !== undefined) batch.put('h', encodeHardState(update.hardState));
    if (batch.length > 0) await batch.write({ sync });
    else await batch.close();
  }

  beginSnapshot(): SnapshotSink {
    const gen = ++this.gen;
    let count = 1;
    let bytes = 0;
    return {
      append: async (pieces) => {
        const batch = this.db.batch();
        for (const p of pieces) {
          batch.put(pieceKey(gen, count++), p);
          bytes += p.length;
        }
        await batch.write();
      },
      commit: async (meta, head, compactIndex) => {
        assert(compactIndex <= meta.index, 'compaction beyond the snapshot');
        if (meta.index <= this.snapshotIndex) {
          await this.deletePieces({ gen, count, bytes });
          return 'out_of_date';
        }
        assert(meta.index <= this.lastIndex, 'snapshot beyond the stored log');
        const batch = this.db.batch();
        batch.put(pieceKey(gen, 0), head);
        this.putRecord(batch, meta, { gen, count, bytes: head.length + bytes });
        this.deleteRange(batch, this.firstIndex, compactIndex);
        await batch.write({ sync: true });
        this.firstIndex = Math.max(this.firstIndex, compactIndex + 1);
        return 'saved';
      },
      abort: () => this.deletePieces({ gen, count, bytes }),
    };
  }

  async readSnapshot(): Promise<Snapshot> {
    const record = await this.db.get('S');
    if (record === undefined) {
      const inline = await this.db.get('s');
      this.pieces = undefined;
      return inline === undefined ? emptySnapshot() : decodeSnapshotRecord(inline);
    }
    const { meta, data } = decodeSnapshotRecord(record);
    const pieces = decodePiecesRecord(data, this.path);
    const read: Uint8Array[] = [];
    for await (const value of this.db.values({ gte: pieceKey(pieces.gen, 0), lt: pieceKey(pieces.gen + 1, 0) })) read.push(value);
    const whole = concatPieces(read);
    if (read.length !== pieces.count || whole.length !== pieces.bytes) {
      throw new BasaltError(ErrorCode.Io, `corrupt Raft log in ${this.path}: snapshot ${meta.index} has ${read.length} pieces of ${whole.length} bytes, its record says ${pieces.count} of ${pieces.bytes}`, { path: this.path });
    }
    this.pieces = pieces;
    this.gen = Math.max(this.gen, pieces.gen);
    return { meta, data: whole };
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /** Writes `pieces` (head first) under a new generation, in bounded batches, not synced; returns the generation. */
  private async writePieces(pieces: readonly Uint8Array[]): Promise<number> {
    if (pieces.length === 0) return 0;
    const gen = ++this.gen;
    for (let at = 0; at < pieces.length; at++) await this.db.put(pieceKey(gen, at), pieces[at] as Uint8Array);
    return gen;
  }

  /** The record naming `pieces` as the snapshot, in place of the previous one (whose pieces go). */
  private putRecord(batch: Batch, meta: SnapshotMeta, pieces: PiecesRecord): void {
    if (this.pieces !== undefined) for (let i = 0; i < this.pieces.count; i++) batch.del(pieceKey(this.pieces.gen, i));
    batch.del('s');
    batch.put('S', encodeSnapshot({ meta, data: new TextEncoder().encode(JSON.stringify(pieces)) }));
    this.pieces = pieces;
    this.snapshotIndex = meta.index;
  }

  private async deletePieces(pieces: PiecesRecord): Promise<void> {
    const batch = this.db.batch();
    for (let i = 0; i < pieces.count; i++) batch.del(pieceKey(pieces.gen, i));
    await batch.write();
  }

  private async deleteOrphanPieces(): Promise<void> {
    const batch = this.db.batch();
    for await (const key of this.db.keys({ gte: 'p', lt: 'q' })) {
      if (this.pieces === undefined || !key.startsWith(pieceKey(this.pieces.gen, 0).slice(0, 17))) batch.del(key);
    }
    if (batch.length > 0) await batch.write();
    else await batch.close();
  }

  private appendEntries(batch: Batch, entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index <= this.lastIndex + 1, `append at ${first.index} leaves a gap after ${this.lastIndex}`);
    const last = entries[entries.length - 1] as Entry;
    this.deleteRange(batch, last.index + 1, this.lastIndex);
    for (const e of entries) batch.put(entryKey(e.index), encodeEntry(e));
    if (this.lastIndex < this.firstIndex) this.firstIndex = first.index;
    this.lastIndex = last.index;
  }

  private deleteRange(batch: Batch, from: number, to: number): void {
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

/** A received snapshot's data as an empty head and views of at most limits.metaSnapshotWriteBytes. */
function splitPieces(data: Uint8Array): Uint8Array[] {
  const pieces: Uint8Array[] = [new Uint8Array(0)];
  for (let at = 0; at < data.length; at += limits.metaSnapshotWriteBytes) pieces.push(data.subarray(at, at + limits.metaSnapshotWriteBytes));
  return pieces;
}

function decodePiecesRecord(bytes: Uint8Array, path: string): PiecesRecord {
  const r: unknown = JSON.parse(new TextDecoder().decode(bytes));
  const ok = typeof r === 'object' && r !== null && ['gen', 'count', 'bytes'].every((k) => Number.isSafeInteger((r as Record<string, unknown>)[k]));
  if (!ok) throw new BasaltError(ErrorCode.Io, `corrupt Raft log in ${path}: unreadable snapshot record`, { path });
  return r as PiecesRecord;
}

function entryKey(index: number): string {
  return `e${index.toString().padStart(16, '0')}`;
}

function pieceKey(gen: number, piece: number): string {
  return `p${gen.toString().padStart(16, '0')}${piece.toString().padStart(8, '0')}`;
}
