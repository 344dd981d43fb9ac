/**
 * Orders operations on one extent. An operation waits for every earlier operation whose range
 * overlaps its own, unless both only read. Order is the order of acquire() calls, so a caller
 * that acquires synchronously on a request's arrival applies requests in arrival order: the
 * same order on the primary and, through one ordered connection, on every secondary.
 */
interface Held {
  readonly start: number;
  readonly end: number;
  readonly exclusive: boolean;
  readonly done: Promise<void>;
}

export class RangeLock {
  private held: Held[] = [];

  get size(): number {
    return this.held.length;
  }

  /** Resolves with a release function once every conflicting earlier holder released. */
  acquire(start: number, end: number, exclusive: boolean): Promise<() => void> {
    const waits: Promise<void>[] = [];
    for (const h of this.held) {
      if (h.start < end && start < h.end && (exclusive || h.exclusive)) waits.push(h.done);
    }
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const entry: Held = { start, end, exclusive, done };
    this.held.push(entry);
    const unlock = (): void => {
      this.held = this.held.filter((h) => h !== entry);
      release();
    };
    return waits.length === 0 ? Promise.resolve(unlock) : Promise.all(waits).then(() => unlock);
  }
}
