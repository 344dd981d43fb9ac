import { peakRssKiB } from '../lib/proc-stats.js';
import type { Member } from './target.js';

const sampleEveryMs = 250;

/**
 * Samples every member's VmHWM while it runs; a member's peak is the largest over all of its
 * incarnations (a killed process takes its VmHWM along, so it is sampled before that).
 */
export class RssSampler {
  private readonly peaks = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly members: () => readonly Member[]) {
    this.timer = setInterval(() => this.sample(), sampleEveryMs);
  }

  sample(): void {
    for (const m of this.members()) {
      if (m.pid === undefined) continue;
      const kib = peakRssKiB(m.pid);
      if (kib !== undefined) this.peaks.set(m.name, Math.max(kib, this.peaks.get(m.name) ?? 0));
    }
  }

  /** Stops sampling; returns member name -> peak KiB. */
  stop(): Map<string, number> {
    this.sample();
    clearInterval(this.timer);
    return new Map(this.peaks);
  }
}
