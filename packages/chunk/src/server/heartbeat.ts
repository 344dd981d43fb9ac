import { BasaltError, ErrorCode, limits, realTimers, type Timers } from '@basalt/stdx';
import type { MetaLink, ServerReport } from './meta-link.js';

/**
 * Registers with metad (retrying until it answers), then heartbeats at the interval it asks for.
 * An unhealthy store (a failed fdatasync) stops the heartbeats, so metad marks the server down
 * and moves its extents elsewhere.
 */
export class Heartbeat {
  private timer: unknown;
  private registered = false;
  private stopped = false;

  constructor(
    private readonly link: MetaLink,
    private readonly report: () => ServerReport,
    private readonly healthy: () => boolean,
    private readonly log: (line: string) => void,
    private readonly afterBeat: () => void,
    private readonly timers: Timers = realTimers,
  ) {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.timers.clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.timers.setTimeout(() => void this.beat(), ms);
  }

  private async beat(): Promise<void> {
    let next: number = limits.chunkHeartbeatIntervalMs;
    if (!this.healthy()) {
      this.log('store unhealthy: not heartbeating, so that metad marks this server down');
      this.schedule(next);
      return;
    }
    try {
      if (!this.registered) {
        await this.link.register(this.report());
        this.registered = true;
        this.log('registered with metad');
      } else {
        const asked = await this.link.heartbeat(this.report());
        if (asked > 0) next = asked;
        this.afterBeat();
      }
    } catch (err) {
      const code = err instanceof BasaltError ? err.code : ErrorCode.Io;
      this.log(`metad ${this.registered ? 'heartbeat' : 'registration'} failed: ${code}: ${String((err as Error).message)}`);
      next = Math.min(next, 1_000);
    }
    this.schedule(next);
  }
}
