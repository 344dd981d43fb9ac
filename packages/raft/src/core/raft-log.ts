import { assert, assertSafeUint } from '@basalt/stdx';
import { limitEntriesBytes } from './entries.js';
import { Unstable } from './unstable.js';
import type { Entry, Snapshot, Storage } from './types.js';

/**
 * The log as Raft sees it: stable storage followed by the unstable tail.
 * Invariants: applied <= committed <= lastIndex(); firstIndex() - 1 <= applied.
 */
export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;

  /**
   * @param unsafeIgnorePrevTerm test-only protocol breaker (`UnsafeTestingKnobs.appendIgnoringPrevTerm`):
   *   an append matches when the log has an entry at its previous index, whatever its term.
   */
  constructor(readonly storage: Storage, private readonly unsafeIgnorePrevTerm = false) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    // Everything up to the snapshot is committed and applied (as etcd's newLog).
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'the last entry always has a term');
    return t;
  }

  /** The term of entry `index`, or undefined if it was compacted or does not exist. */
  term(index: number): number | undefined {
    const fromUnstable = this.unstable.maybeTerm(index);
    if (fromUnstable !== undefined) return fromUnstable;
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    // Not in unstable and within bounds: stable storage has it (its snapshot index included).
    if (index < this.storage.firstIndex() - 1 || index > this.storage.lastIndex()) return undefined;
    return this.storage.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's "at least as up-to-date" rule (§5.4.1) for a candidate whose last entry is (lastIndex, lastTerm). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * A follower's handling of MsgApp: if (index, logTerm) matches, append the entries past the
   * first conflict and advance commit to min(committed, last new index). Returns the last
   * new index, or undefined on mismatch.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    const matches = this.unsafeIgnorePrevTerm ? this.term(index) !== undefined : this.matchTerm(index, logTerm);
    if (!matches) return undefined;
    const lastNew = index + ents.length;
    assertSafeUint(lastNew, 'last new index');
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(conflict - index - 1));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries (which follow or overwrite part of the log). Returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = (ents[0] as Entry).index - 1;
    assert(after >= this.committed, `append after ${after} would overwrite committed entries up to ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** The index of the first entry whose term differs from ours (or which we lack); 0 if none. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast back-off: the largest index <= `index` whose term is <= `term`, and its term. A
   * leader (or follower) uses it to skip a whole term of mismatching entries per round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = index;
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  /** Entries in [lo, hi) limited to `maxBytes` (at least one), or 'compacted' if lo is gone. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | 'compacted' {
    if (lo < this.firstIndex()) return 'compacted';
    assert(hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    if (lo >= hi) return [];
    const offset = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < offset) {
      out = this.storage.entries(lo, Math.min(hi, offset), maxBytes);
      // Storage stopped short (size limit): do not add unstable entries after a gap.
      if (out.length < Math.min(hi, offset) - lo) return out;
    }
    if (hi > offset) out = out.concat(this.unstable.slice(Math.max(lo, offset), hi));
    return limitEntriesBytes(out, maxBytes);
  }

  entriesFrom(lo: number, maxBytes: number): Entry[] | 'compacted' {
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  /** Commit up to `maxIndex` if the entry there has the current `term` (§5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed && index >= this.applied, `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > this.applied && this.unstable.snapshot === undefined;
  }

  /** Committed entries not yet applied (all of them; the caller applies them in one Ready). */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const got = this.slice(this.applied + 1, this.committed + 1, maxBytes);
    assert(got !== 'compacted', `entries after applied ${this.applied} were compacted`);
    return got;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Replaces the log with a snapshot from the leader (not yet persisted). */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.meta.index;
    this.unstable.restore(snapshot);
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }
}
