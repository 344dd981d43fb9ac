/**
 * Group commit: callers ask for durability of everything written so far to the files they name
 * (or to every file); one round syncs, in parallel, every file those callers named that was
 * dirtied before it started (every dirty file when one of them named none), and answers every
 * caller that asked before it started. Callers arriving during a round wait for the next one. So
 * N concurrent FLUSH/FUA requests cost about two rounds of fdatasync, not N, and a FUA write does
 * not also write back the pages of files nobody asked for (a rebuild's copy, buffered until the
 * FLUSH before its promotion).
 */
export class SyncGroup {
  private dirty = new Set<number>();
  /** What the callers waiting for the next round named: some files, or 'all'. */
  private wanted: Set<number> | 'all' = new Set();
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  rounds = 0;
  requests = 0;

  constructor(private readonly syncFd: (fd: number) => Promise<void>) {}

  /**
   * Call after a write to `fd` completes (before it too, if a round may not skip the file while
   * the write runs): a round takes a file off the dirty set when it starts, so a write that lands
   * during a round is synced only by a round after a mark made once it landed.
   */
  markDirty(fd: number): void {
    this.dirty.add(fd);
  }

  /** Forgets a file about to be closed (its owner synced it). */
  forget(fd: number): void {
    this.dirty.delete(fd);
  }

  /** Resolves once every write to `fd` (to every file, without one) that resolved before this call is durable. */
  sync(fd?: number): Promise<void> {
    this.requests++;
    if (fd === undefined) this.wanted = 'all';
    else if (this.wanted !== 'all') this.wanted.add(fd);
    if (this.running === undefined) {
      this.running = this.round();
      return this.running;
    }
    this.next ??= this.running.then(
      () => this.startNext(),
      () => this.startNext(),
    );
    return this.next;
  }

  private startNext(): Promise<void> {
    this.next = undefined;
    this.running = this.round();
    return this.running;
  }

  private async round(): Promise<void> {
    const wanted = this.wanted;
    this.wanted = new Set();
    const fds = wanted === 'all' ? [...this.dirty] : [...wanted].filter((fd) => this.dirty.has(fd));
    for (const fd of fds) this.dirty.delete(fd);
    this.rounds++;
    try {
      await Promise.all(fds.map((fd) => this.syncFd(fd)));
    } catch (err) {
      for (const fd of fds) this.dirty.add(fd);
      throw err;
    } finally {
      if (this.next === undefined) this.running = undefined;
    }
  }
}
