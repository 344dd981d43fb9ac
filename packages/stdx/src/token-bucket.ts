import { assert } from './assert.js';

/**
 * A token bucket on bytes (pure: time is an argument). Repair and scrub reserve their bytes here
 * before they read or send them; foreground I/O never does, so it never waits on the budget.
 *
 * reserve() always grants and says how long to wait first: the bucket may go into debt (a
 * reservation larger than the burst is paid back over time), and reservations are served in
 * call order because each one waits for the debt of those before it.
 *
 * Invariants: tokens <= burstBytes; tokens < 0 only as the debt of granted reservations; a rate
 * of 0 means unlimited (every reservation waits 0 ms).
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    readonly rateBytesPerSec: number,
    readonly burstBytes: number,
    nowMs: number,
  ) {
    assert(Number.isSafeInteger(rateBytesPerSec) && rateBytesPerSec >= 0, `rate must be a whole number of bytes per second, got ${rateBytesPerSec}`);
    assert(Number.isSafeInteger(burstBytes) && burstBytes > 0, `burst must be a positive number of bytes, got ${burstBytes}`);
    this.tokens = burstBytes;
    this.lastMs = nowMs;
  }

  get unlimited(): boolean {
    return this.rateBytesPerSec === 0;
  }

  /** Takes `bytes` now; returns the ms the caller waits before using them (0: at once). */
  reserve(bytes: number, nowMs: number): number {
    assert(Number.isSafeInteger(bytes) && bytes >= 0, `reserve a whole number of bytes, got ${bytes}`);
    if (this.unlimited) return 0;
    this.refill(nowMs);
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rateBytesPerSec);
  }

  /** Bytes that could be taken now without waiting (negative: the debt still to pay). */
  available(nowMs: number): number {
    if (this.unlimited) return Number.POSITIVE_INFINITY;
    this.refill(nowMs);
    return this.tokens;
  }

  private refill(nowMs: number): void {
    // A clock that steps back (it should not: callers pass a monotonic one) adds nothing.
    const elapsedMs = Math.max(0, nowMs - this.lastMs);
    this.lastMs = Math.max(this.lastMs, nowMs);
    this.tokens = Math.min(this.burstBytes, this.tokens + (elapsedMs * this.rateBytesPerSec) / 1000);
  }
}
