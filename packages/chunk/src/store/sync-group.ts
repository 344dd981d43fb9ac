/**
 * Group commit: callers ask for durability of everything written so far; one round syncs every
 * file dirtied before it started, in parallel, and answers every caller that asked before it
 * started. Callers arriving during a round wait for the next one. So N concurrent FLUSH/FUA
 * requests cost about two rounds of fdatasync, not N.
 */
export class SyncGroup {
  private dirty = new Set<number>();
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  rounds = 0;
  requests = 0;

  constructor(private readonly syncFd: (fd: number) => Promise<void>) {}

  markDirty(fd: number): void {
    this.dirty.add(fd);
  }

  /** Forgets a file about to be closed (its owner synced it). */
  forget(fd: number): void {
    this.dirty.delete(fd);
  }

  sync(): Promise<void> {
    this.requests++;
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
    const fds = [...this.dirty];
    this.dirty = new Set();
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
