import { limits } from '@basalt/stdx';
import { addNbdTotals, VolumeRates } from './view/volume-rates.js';
import type { VolumeTotals } from './view/volume-rates.js';

/**
 * Samples the agents' /metrics every limits.consoleSampleIntervalMs while this member leads, and
 * keeps per-volume rate points for the volume pages. An agent that does not answer is left out of
 * that sample (its volumes' rates then dip; the log says which agent).
 */
export class AgentSampler {
  readonly rates = new VolumeRates(limits.consoleSamplesMax);
  private timer: NodeJS.Timeout | undefined;
  private readonly failing = new Set<string>();

  constructor(private readonly agents: readonly string[], private readonly log: (line: string) => void) {}

  get sampling(): boolean {
    return this.agents.length > 0;
  }

  start(leading: () => boolean): void {
    if (this.agents.length === 0) return;
    const tick = (): void => {
      const sample = leading() ? this.sample() : Promise.resolve();
      void sample.finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, limits.consoleSampleIntervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async sample(): Promise<void> {
    const totals = new Map<string, VolumeTotals>();
    await Promise.all(this.agents.map(async (agent) => {
      try {
        const res = await fetch(`http://${agent}/metrics`, { signal: AbortSignal.timeout(limits.consoleCallTimeoutMs) });
        addNbdTotals(await res.text(), totals);
        this.failing.delete(agent);
      } catch (err) {
        if (!this.failing.has(agent)) this.log(`console: cannot sample agent metrics at ${agent}: ${(err as Error).message}`);
        this.failing.add(agent);
      }
    }));
    this.rates.add(Date.now(), totals);
  }
}
