import { assert, assertSafeUint } from '@basalt/stdx';
import { limitEntriesBytes } from './entries.js';
import type { ConfState, Entry, HardState, Snapshot, Storage } from './types.js';

/** The index of the bootstrap snapshot of a new cluster (see MemoryStorage.withConf). */
export const bootstrapIndex = 1;

export type CompactResult = { ok: true } | { ok: false; reason: 'compacted' };
export type CreateSnapshotResult = { ok: true; snapshot: Snapshot } | { ok: false; reason: 'out_of_date' };
export type ApplySnapshotResult = { ok: true } | { ok: false; reason: 'out_of_date' };

/**
 * An in-memory Storage, as etcd's MemoryStorage. The caller appends what a Ready says to
 * persist (after writing it to its durable store, if any) and compacts after snapshots.
 * Invariant: ents[0] is a dummy entry holding the snapshot's (index, term); the log is
 * ents[1..], contiguous.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: '', commit: 0 };
  private snap: Snapshot = { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) };
  private ents: Entry[] = [{ term: 0, index: 0, type: 'Normal', data: new Uint8Array(0) }];

  /**
   * The storage of an initial member of a new cluster: a bootstrap snapshot at index 1
   * (term 0, empty data) that holds `conf`. Every initial member starts from the same one;
   * a member added later starts from an empty `new MemoryStorage()` and receives this (or
   * a later) snapshot from the leader, which is how it learns the configuration.
   */
  static withConf(conf: ConfState): MemoryStorage {
    const storage = new MemoryStorage();
    storage.snap = { meta: { index: bootstrapIndex, term: 0, conf: copyConf(conf) }, data: new Uint8Array(0) };
    storage.ents = [{ term: 0, index: bootstrapIndex, type: 'Normal', data: new Uint8Array(0) }];
    return storage;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: copyConf(this.snap.meta.conf) };
  }

  setHardState(hs: HardState): void {
    assertSafeUint(hs.term, 'hard state term');
    assertSafeUint(hs.commit, 'hard state commit');
    this.hardState = { ...hs };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.dummy().index;
    assert(lo > offset, `entries(${lo}) below first index ${offset + 1}`);
    assert(lo < hi, `entries range [${lo}, ${hi}) empty`);
    assert(hi <= this.lastIndex() + 1, `entries(${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    return limitEntriesBytes(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(index: number): number {
    const offset = this.dummy().index;
    assert(index >= offset, `term(${index}) below snapshot index ${offset}`);
    assert(index <= this.lastIndex(), `term(${index}) beyond last index ${this.lastIndex()}`);
    return (this.ents[index - offset] as Entry).term;
  }

  firstIndex(): number {
    return this.dummy().index + 1;
  }

  lastIndex(): number {
    return this.dummy().index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with `snap` (a follower installing a leader's snapshot). */
  applySnapshot(snap: Snapshot): ApplySnapshotResult {
    if (snap.meta.index <= this.snap.meta.index) return { ok: false, reason: 'out_of_date' };
    this.snap = { meta: { ...snap.meta, conf: copyConf(snap.meta.conf) }, data: snap.data };
    this.ents = [{ term: snap.meta.term, index: snap.meta.index, type: 'Normal', data: new Uint8Array(0) }];
    return { ok: true };
  }

  /** Records a snapshot of the state machine as of `index` (<= applied; the caller ensures it). */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): CreateSnapshotResult {
    if (index <= this.snap.meta.index) return { ok: false, reason: 'out_of_date' };
    assert(index <= this.lastIndex(), `snapshot index ${index} beyond last index ${this.lastIndex()}`);
    this.snap = { meta: { index, term: this.term(index), conf: copyConf(conf) }, data };
    return { ok: true, snapshot: this.snap };
  }

  /** Discards entries up to and including `compactIndex` (which a snapshot must cover). */
  compact(compactIndex: number): CompactResult {
    const offset = this.dummy().index;
    if (compactIndex <= offset) return { ok: false, reason: 'compacted' };
    assert(compactIndex <= this.lastIndex(), `compact(${compactIndex}) beyond last index ${this.lastIndex()}`);
    assert(compactIndex <= this.snap.meta.index, `compact(${compactIndex}) beyond the snapshot at ${this.snap.meta.index}`);
    const kept = this.ents.slice(compactIndex - offset);
    const head = kept[0] as Entry;
    kept[0] = { term: head.term, index: head.index, type: 'Normal', data: new Uint8Array(0) };
    this.ents = kept;
    return { ok: true };
  }

  /**
   * Appends `entries`, truncating any conflicting suffix first. Entries at or below the
   * snapshot are ignored; a gap after the last index is a bug.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const fresh = entries.filter((e) => e.index >= first);
    if (fresh.length === 0) return;
    const start = (fresh[0] as Entry).index;
    assert(start <= this.lastIndex() + 1, `append at ${start} leaves a gap after ${this.lastIndex()}`);
    const offset = this.dummy().index;
    this.ents = this.ents.slice(0, start - offset).concat(fresh);
  }

  private dummy(): Entry {
    return this.ents[0] as Entry;
  }
}

function copyConf(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}
