import { describe, expect, it } from 'vitest';
import { addNbdTotals, VolumeRates, type VolumeTotals } from './volume-rates.js';

const scrape = (ops: number, bytes: number, seconds: number): string => `# HELP basalt_nbd_ops_total NBD requests completed
# TYPE basalt_nbd_ops_total counter
basalt_nbd_ops_total{volume="v1",op="read"} ${ops}
basalt_nbd_ops_total{volume="v1",op="block_status"} 1000
basalt_nbd_bytes_total{volume="v1",op="read"} ${bytes}
basalt_nbd_op_duration_seconds_sum{volume="v1",op="read"} ${seconds}
basalt_nbd_op_duration_seconds_count{volume="v1",op="read"} ${ops}
basalt_nbd_op_duration_seconds_bucket{volume="v1",op="read",le="0.001"} ${ops}
basalt_nbd_connection_ops_total{connection="1",volume="v1",op="read"} ${ops}
`;

function totals(...texts: string[]): Map<string, VolumeTotals> {
  const into = new Map<string, VolumeTotals>();
  for (const t of texts) addNbdTotals(t, into);
  return into;
}

describe('per-volume rates from agent metrics', () => {
  it('sums read, write, flush and trim over agents, leaving other ops and per-connection series out', () => {
    expect(totals(scrape(10, 40_960, 0.5), scrape(5, 20_480, 0.25)).get('v1')).toEqual({ ops: 15, readBytes: 61_440, writeBytes: 0, latencySumSeconds: 0.75, latencyCount: 15 });
  });

  it('turns successive samples into rates, and counts from zero after an agent restart', () => {
    const rates = new VolumeRates(2);
    rates.add(1_000, totals(scrape(100, 409_600, 1)));
    expect(rates.of('v1')).toEqual([]);
    rates.add(6_000, totals(scrape(150, 614_400, 1.5)));
    expect(rates.of('v1')).toEqual([{ atMs: 6_000, iops: 10, readBytesPerSec: 40_960, writeBytesPerSec: 0, meanLatencyMs: 10 }]);
    rates.add(11_000, totals(scrape(20, 81_920, 0.04)));
    expect(rates.of('v1')[1]).toEqual({ atMs: 11_000, iops: 4, readBytesPerSec: 16_384, writeBytesPerSec: 0, meanLatencyMs: 2 });
    rates.add(16_000, totals(scrape(20, 81_920, 0.04)));
    expect(rates.of('v1').map((p) => p.atMs)).toEqual([11_000, 16_000]);
    expect(rates.of('v1')[1]!.meanLatencyMs).toBe(0);
  });
});
