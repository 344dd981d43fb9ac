import { KiB, MiB, Prng } from '@basalt/stdx';
import { percentile } from '../meta/workload.js';
import type { Target } from './targets.js';

export interface Workload {
  readonly name: string;
  readonly op: 'read' | 'write';
  readonly blockBytes: number;
  readonly random: boolean;
  readonly queueDepth: number;
}

export interface WorkloadResult {
  readonly target: string;
  readonly workload: string;
  readonly ops: number;
  readonly seconds: number;
  readonly mbPerS: number;
  readonly iops: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
}

/** Sequential 1 MiB and random 4 KiB, reads and writes, at queue depths 1 and 32. */
export const workloads: readonly Workload[] = [1, 32].flatMap((queueDepth) => (['write', 'read'] as const).flatMap((op) => [
  { name: `seq ${op} 1MiB QD${queueDepth}`, op, blockBytes: MiB, random: false, queueDepth },
  { name: `rand ${op} 4KiB QD${queueDepth}`, op, blockBytes: 4 * KiB, random: true, queueDepth },
]));

/**
 * Runs one workload closed-loop for `seconds` (and at most `opsMax` operations): `queueDepth`
 * workers each issue one request at a time. Sequential offsets wrap around at the target's end.
 */
export async function run(target: Target, w: Workload, seconds: number, opsMax: number, seed: number): Promise<WorkloadResult> {
  const prng = new Prng(seed);
  const data = Buffer.from(prng.fill(new Uint8Array(w.blockBytes)));
  const blocks = Math.floor(target.sizeBytes / w.blockBytes);
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(Array.from({ length: w.queueDepth }, async () => {
    while (performance.now() < end && latencies.length < opsMax) {
      const block = w.random ? prng.int(0, blocks - 1) : next++ % blocks;
      const t0 = performance.now();
      if (w.op === 'write') await target.write(block * w.blockBytes, data);
      else await target.read(block * w.blockBytes, w.blockBytes);
      latencies.push(performance.now() - t0);
    }
  }));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    target: target.name, workload: w.name, ops: latencies.length, seconds: elapsed,
    mbPerS: (latencies.length * w.blockBytes) / elapsed / 1e6, iops: latencies.length / elapsed,
    p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), p999Ms: percentile(latencies, 0.999),
  };
}
