/**
 * In-memory copies ("mirrors") of extent block metadata (checksum sidecar and stamp table), so
 * that reads and writes need no metadata read from disk (a thread-pool round trip each, on the
 * critical path of every op).
 *
 * Invariant: a mirror equals its file. It is loaded whole from the file, and its owner copies
 * entries into it only after writing them to the file succeeded. (A failed sidecar write leaves
 * the old entries, which still describe the data: the data write comes after the sidecar write.)
 * Owners use a mirror only while they hold the extent's range lock, and a mirror is dropped only
 * while its owner is idle (no lock held or waited for), so no write to a file races its reload.
 * Least recently used mirrors go first; the budget is exceeded only while every mirror is in use.
 */
export class SidecarCache<Owner extends object> {
  private readonly mirrors = new Map<Owner, Buffer>();
  private readonly loading = new Map<Owner, Promise<Buffer>>();
  private bytes = 0;

  constructor(
    private readonly budgetBytes: number,
    private readonly idle: (owner: Owner) => boolean,
  ) {}

  /** Bytes held by mirrors. */
  get heldBytes(): number {
    return this.bytes;
  }

  /** The owner's mirror; load reads the whole sidecar file (called once for concurrent callers). */
  get(owner: Owner, load: () => Promise<Buffer>): Buffer | Promise<Buffer> {
    const mirror = this.mirrors.get(owner);
    if (mirror !== undefined) {
      this.mirrors.delete(owner);
      this.mirrors.set(owner, mirror);
      return mirror;
    }
    let loaded = this.loading.get(owner);
    if (loaded === undefined) {
      loaded = load().then(
        (buf) => {
          this.loading.delete(owner);
          this.mirrors.set(owner, buf);
          this.bytes += buf.length;
          this.evict();
          return buf;
        },
        (err: unknown) => {
          this.loading.delete(owner);
          throw err;
        },
      );
      this.loading.set(owner, loaded);
    }
    return loaded;
  }

  /** Drops the mirror of an owner that is gone for good (a removed replica). */
  forget(owner: Owner): void {
    const mirror = this.mirrors.get(owner);
    if (mirror === undefined) return;
    this.mirrors.delete(owner);
    this.bytes -= mirror.length;
  }

  private evict(): void {
    for (const [owner, mirror] of this.mirrors) {
      if (this.bytes <= this.budgetBytes) return;
      if (!this.idle(owner)) continue;
      this.mirrors.delete(owner);
      this.bytes -= mirror.length;
    }
  }
}
