import { expect } from 'vitest';
import { MiB, type Prng } from '@basalt/stdx';
import type { Volume } from '@basalt/client';

/**
 * Helpers of the e2e-*.test.ts files: a byte-exact model of a volume and a bounded-concurrency
 * writer of random, non-overlapping in-flight writes (overlapping writes in flight may land in
 * any order, as on a disk, which a byte model cannot predict).
 */
export const SEED = Number(process.env.SEED ?? 4);

/** Runs `work(i)` for i in [0, count) with at most `depth` at once. */
export async function pool(count: number, depth: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(depth, count) }, async () => {
    while (next < count) await work(next++);
  }));
}

/** One random write: an offset and bytes. */
export interface RandomWrite {
  readonly offset: number;
  readonly data: Buffer;
}

/**
 * Random writes of 1 byte to `maxBytes` at random (unaligned) offsets; `inflight` holds the ranges
 * being written so that a new write never overlaps one still in flight.
 */
export class RandomWrites {
  private readonly inflight = new Set<RandomWrite>();

  constructor(private readonly prng: Prng, private readonly sizeBytes: number, private readonly maxBytes: number) {}

  next(): RandomWrite {
    for (;;) {
      const length = this.prng.chance(0.2) ? this.prng.int(1, 8192) : this.prng.int(1, this.maxBytes);
      const offset = this.prng.int(0, this.sizeBytes - length);
      if ([...this.inflight].some((w) => offset < w.offset + w.data.length && w.offset < offset + length)) continue;
      const w = { offset, data: Buffer.from(this.prng.fill(new Uint8Array(length))) };
      this.inflight.add(w);
      return w;
    }
  }

  done(w: RandomWrite): void {
    this.inflight.delete(w);
  }
}

/** Reads the whole volume in 4 MiB pieces and compares it with `expected`, naming the first bad offset. */
export async function expectVolumeEquals(volume: Volume, expected: Buffer, what: string): Promise<void> {
  const step = 4 * MiB;
  await pool(Math.ceil(expected.length / step), 4, async (i) => {
    const offset = i * step;
    const length = Math.min(step, expected.length - offset);
    const got = await volume.read(offset, length);
    const want = expected.subarray(offset, offset + length);
    if (!got.equals(want)) {
      let at = 0;
      while (got[at] === want[at]) at++;
      expect.fail(`${what}: volume differs from the model at byte ${offset + at} (SEED=${SEED})`);
    }
  });
}
