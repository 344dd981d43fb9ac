import { BasaltError, ErrorCode, realTimers, type Clock, type Timers } from '@basalt/stdx';
import type { TokenBucket } from '@basalt/stdx';

/**
 * The I/O shell of the repair budget: waits out what the token buckets ask (@basalt/stdx token-bucket.ts).
 * The rebuild executor takes from the server's repair bucket; the scrubber from its own rate
 * bucket and the repair bucket together (it waits for the later of the two). Foreground I/O
 * never comes here. close() ends every wait with BASALT_CLOSED, so shutdown does not hang on
 * a slow budget.
 */
export class RepairBudget {
  private readonly sleeping = new Set<{ timer: unknown; reject: (err: Error) => void }>();
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Takes `bytes` from every bucket and resolves when all of them allow their use. */
  take(buckets: readonly TokenBucket[], bytes: number): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    const now = this.clock.nowMs();
    let waitMs = 0;
    for (const b of buckets) waitMs = Math.max(waitMs, b.reserve(bytes, now));
    return waitMs === 0 ? Promise.resolve() : this.sleep(waitMs);
  }

  /** Waits ms (for the scrubber's schedule); ends with BASALT_CLOSED on close(). */
  sleep(ms: number): Promise<void> {
    return this.closed ? Promise.reject(closedError()) : new Promise((resolve, reject) => {
      const sleeper = {
        timer: this.timers.setTimeout(() => {
          this.sleeping.delete(sleeper);
          resolve();
        }, ms),
        reject,
      };
      this.sleeping.add(sleeper);
    });
  }

  close(): void {
    this.closed = true;
    for (const s of this.sleeping) {
      this.timers.clearTimeout(s.timer);
      s.reject(closedError());
    }
    this.sleeping.clear();
  }
}

function closedError(): BasaltError {
  return new BasaltError(ErrorCode.Closed, 'repair stopped: the chunk server is closing');
}
