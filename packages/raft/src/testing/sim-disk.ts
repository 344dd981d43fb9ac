import { assert } from '@basalt/stdx';
import { MemoryStorage } from '../core/memory-storage.js';
import type { ConfState, Entry, HardState, Ready, Snapshot } from '../core/types.js';

/** One Ready's worth of writes, as a LevelDB batch. */
interface Write {
  readonly snapshot: Snapshot | undefined;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | undefined;
}

/**
 * A node's simulated durable store. Fault model: a write is durable once it
 * was synced (the `wait` of a Ready with `mustSync`, or a snapshot save);
 * until then it sits in a volatile cache; a crash
 * loses everything the node had not written yet and a random suffix of the
 * cache (the OS may have flushed some of it, in order). Writes are applied in
 * order and atomically (a torn batch is lost as a whole).
 */
export class SimDisk {
  private hardState: HardState = { term: 0, vote: '', commit: 0 };
  private snapshot: Snapshot;
  /** The log: contiguous, ending after the snapshot; may start a little below it (saveSnapshot keeps a few). */
  private entries: Entry[] = [];
  private cache: Write[] = [];

  constructor(initialConf: ConfState) {
    this.snapshot = { meta: { index: 0, term: 0, conf: initialConf }, data: new Uint8Array(0) };
  }

  /** The Ready's `write` step: the batch reaches the volatile cache; it is durable after the next `sync`. */
  write(rd: Ready): void {
    this.cache.push({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState });
  }

  sync(): void {
    for (const w of this.cache) this.apply(w);
    this.cache = [];
  }

  /** Saves a snapshot the node took of its state machine and drops the log up to `compactIndex`. */
  saveSnapshot(snapshot: Snapshot, compactIndex: number): void {
    this.sync();
    assert(compactIndex <= snapshot.meta.index, `compact ${compactIndex} beyond snapshot ${snapshot.meta.index}`);
    this.snapshot = snapshot;
    this.entries = this.entries.filter((e) => e.index > compactIndex);
  }

  /** The crash: of the volatile cache, an in-order prefix of `survivors` writes reached the disk, the rest is gone. */
  crash(survivors: number): void {
    assert(survivors >= 0, `survivors must not be negative, got ${survivors}`);
    for (const w of this.cache.slice(0, survivors)) this.apply(w);
    this.cache = [];
  }

  get cachedWrites(): number {
    return this.cache.length;
  }

  get snapshotIndex(): number {
    return this.snapshot.meta.index;
  }

  /** A MemoryStorage holding exactly what is durable (what a restarted node reads). */
  load(): { storage: MemoryStorage; snapshot: Snapshot } {
    assert(this.cache.length === 0, 'load() after a crash only');
    const storage = this.snapshot.meta.index === 0 ? MemoryStorage.withConf(this.snapshot.meta.conf) : new MemoryStorage();
    if (this.snapshot.meta.index > 0) storage.applySnapshot(this.snapshot);
    storage.append(this.entries);
    storage.setHardState(this.hardState);
    return { storage, snapshot: this.snapshot };
  }

  private apply(w: Write): void {
    if (w.snapshot !== undefined) {
      this.snapshot = w.snapshot;
      this.entries = [];
    }
    this.append(w.entries);
    if (w.hardState !== undefined) this.hardState = { ...w.hardState };
  }

  /** Appends, replacing any conflicting suffix; entries covered by the snapshot are skipped. */
  private append(entries: readonly Entry[]): void {
    const fresh = entries.filter((e) => e.index > this.snapshot.meta.index);
    const start = fresh[0]?.index;
    if (start === undefined) return;
    // The log may keep a few entries below the snapshot (see saveSnapshot).
    const first = this.entries[0]?.index ?? start;
    assert(start >= first && start <= first + this.entries.length, `durable append at ${start} leaves a gap after ${first + this.entries.length - 1}`);
    this.entries = this.entries.slice(0, start - first).concat(fresh);
  }
}
