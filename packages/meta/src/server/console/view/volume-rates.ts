import type { RatePoint } from './model.js';

/**
 * Per-volume I/O rates from the agents' Prometheus counters: parse the totals out of each scrape,
 * sum them over agents, and keep the differences between consecutive samples as rate points
 * (a bounded ring per volume). Counters that went down (an agent restarted) count from zero.
 */

/** Cumulative counters of one volume, summed over the agents scraped. */
export interface VolumeTotals {
  ops: number;
  readBytes: number;
  writeBytes: number;
  latencySumSeconds: number;
  latencyCount: number;
}

const countedOps = new Set(['read', 'write', 'flush', 'trim']);
const sampleLine = /^(basalt_nbd_ops_total|basalt_nbd_bytes_total|basalt_nbd_op_duration_seconds_sum|basalt_nbd_op_duration_seconds_count)\{([^}]*)\} (\S+)$/;
const labelPair = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Adds the per-volume NBD totals in one Prometheus text exposition to `into`. */
export function addNbdTotals(text: string, into: Map<string, VolumeTotals>): void {
  for (const line of text.split('\n')) {
    const m = sampleLine.exec(line);
    if (m === null) continue;
    const labels = new Map([...m[2]!.matchAll(labelPair)].map((p) => [p[1]!, p[2]!.replace(/\\(.)/g, '$1')]));
    const volume = labels.get('volume');
    const op = labels.get('op') ?? '';
    const value = Number(m[3]);
    if (volume === undefined || !countedOps.has(op) || !Number.isFinite(value)) continue;
    const t = into.get(volume) ?? { ops: 0, readBytes: 0, writeBytes: 0, latencySumSeconds: 0, latencyCount: 0 };
    into.set(volume, t);
    if (m[1] === 'basalt_nbd_ops_total') t.ops += value;
    else if (m[1] === 'basalt_nbd_bytes_total') {
      if (op === 'read') t.readBytes += value;
      if (op === 'write') t.writeBytes += value;
    } else if (m[1] === 'basalt_nbd_op_duration_seconds_sum') t.latencySumSeconds += value;
    else t.latencyCount += value;
  }
}

/** Rate points per volume from successive totals; at most `pointsMax` per volume, oldest dropped. */
export class VolumeRates {
  private last: { atMs: number; totals: ReadonlyMap<string, VolumeTotals> } | undefined;
  private readonly points = new Map<string, RatePoint[]>();

  constructor(private readonly pointsMax: number) {}

  /** Records one sample taken at `atMs`; the first only sets the baseline. */
  add(atMs: number, totals: ReadonlyMap<string, VolumeTotals>): void {
    const last = this.last;
    this.last = { atMs, totals };
    if (last === undefined || atMs <= last.atMs) return;
    const seconds = (atMs - last.atMs) / 1000;
    for (const [volume, now] of totals) {
      const before = last.totals.get(volume);
      const d = (f: (t: VolumeTotals) => number): number => {
        const prev = before === undefined ? 0 : f(before);
        return f(now) >= prev ? f(now) - prev : f(now);
      };
      const count = d((t) => t.latencyCount);
      const point: RatePoint = {
        atMs, iops: d((t) => t.ops) / seconds, readBytesPerSec: d((t) => t.readBytes) / seconds, writeBytesPerSec: d((t) => t.writeBytes) / seconds,
        meanLatencyMs: count === 0 ? 0 : (d((t) => t.latencySumSeconds) / count) * 1000,
      };
      const list = this.points.get(volume) ?? [];
      list.push(point);
      if (list.length > this.pointsMax) list.shift();
      this.points.set(volume, list);
    }
  }

  of(volume: string): readonly RatePoint[] {
    return this.points.get(volume) ?? [];
  }
}
