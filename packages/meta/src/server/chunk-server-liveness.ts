import type { MetaMetrics } from './metrics.js';
import type { RaftHost } from './raft-host.js';

export interface LivenessOptions {
  /** The interval chunk servers are told to heartbeat at. */
  heartbeatIntervalMs: number;
  /** A chunk server silent this long is marked down. */
  downAfterMs: number;
  metrics: MetaMetrics;
  log(line: string): void;
}

/**
 * The leader's watch over chunk servers. Time lives here, never in the state machine: the
 * leader remembers (in memory, on its monotonic clock) when it last heard from each server
 * and proposes markServerDown for one silent longer than downAfterMs. A new leader gives
 * every server a full grace period, since it has not heard from any of them yet.
 */
export class ChunkServerLiveness {
  private readonly lastHeard = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(private readonly host: RaftHost, private readonly opts: LivenessOptions) {
    host.onLeadershipChange(() => this.lastHeard.clear());
  }

  get heartbeatIntervalMs(): number {
    return this.opts.heartbeatIntervalMs;
  }

  heard(serverId: string): void {
    this.lastHeard.set(serverId, performance.now());
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.checking || !this.host.isLeader) return;
      this.checking = true;
      void this.check().finally(() => {
        this.checking = false;
      });
    }, this.opts.heartbeatIntervalMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    const now = performance.now();
    for (const server of this.host.readStale((s) => s.listServers())) {
      if (server.state !== 'up') continue;
      const last = this.lastHeard.get(server.id);
      if (last === undefined) {
        this.lastHeard.set(server.id, now);
        continue;
      }
      if (now - last <= this.opts.downAfterMs) continue;
      try {
        await this.host.propose({ type: 'markServerDown', serverId: server.id, nowMs: Date.now() });
        this.opts.metrics.chunkServersDown.inc();
        this.opts.log(`liveness: chunk server ${server.id} silent for ${Math.round(now - last)} ms: marked down`);
      } catch (err) {
        this.opts.log(`liveness: could not mark ${server.id} down: ${String(err)}`);
        return;
      }
    }
  }
}
