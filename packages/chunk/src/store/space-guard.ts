import fs from 'node:fs';
import { BasaltError, ErrorCode, limits } from '@basalt/stdx';

/**
 * Keeps a reserve of free space on the data filesystem: a mutation that would leave less than
 * the reserve free is refused with BASALT_NO_SPACE before it touches a file. The reserve lets
 * the LevelDB index compact and the server restart on a "full" disk; the store also handles a
 * real ENOSPC (another tenant filled the disk) without damaging stored data.
 *
 * The free-space figure is an estimate: refreshed by statfs at most every refreshMs, lowered by
 * each admitted mutation's size in between, and refreshed at once before refusing.
 */
export class SpaceGuard {
  private freeBytes = 0;
  private refreshedAtMs = -Infinity;
  private refreshing = false;
  readonly reserveBytes: number;

  constructor(
    private readonly dir: string,
    reserveBytes?: number,
    private readonly refreshMs = 500,
  ) {
    const s = fs.statfsSync(dir);
    this.reserveBytes = reserveBytes ?? Math.min(limits.chunkDiskReserveBytesMax, Math.floor((s.blocks * s.bsize) / 32));
    this.take(s);
  }

  /** BASALT_NO_SPACE when writing bytes would eat into the reserve; else undefined, and counts them. */
  admit(bytes: number): BasaltError | undefined {
    this.maybeRefresh();
    if (this.freeBytes - bytes < this.reserveBytes) this.take(fs.statfsSync(this.dir));
    if (this.freeBytes - bytes < this.reserveBytes) {
      return new BasaltError(ErrorCode.NoSpace, `no space left on the chunk server's disk: ${this.freeBytes} bytes free, ${this.reserveBytes} kept in reserve`, { freeBytes: this.freeBytes, reserveBytes: this.reserveBytes });
    }
    this.freeBytes -= bytes;
    return undefined;
  }

  private take(s: fs.StatsFs): void {
    this.freeBytes = s.bavail * s.bsize;
    this.refreshedAtMs = performance.now();
  }

  private maybeRefresh(): void {
    if (this.refreshing || performance.now() - this.refreshedAtMs < this.refreshMs) return;
    this.refreshing = true;
    fs.statfs(this.dir, (err, s) => {
      this.refreshing = false;
      if (err === null) this.take(s);
    });
  }
}
