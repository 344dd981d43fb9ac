import fc from 'fast-check';
import { ErrorCode } from '@basalt/stdx';

/**
 * One fuzz surface: a seeded fast-check run of `iterations` inputs. A failure throws fast-check's
 * report, which names the seed and the shrunk counterexample's path (replay with --seed).
 */
export interface FuzzOptions {
  readonly iterations: number;
  readonly seed: number;
  /** Called with the count of inputs checked so far, now and then. */
  readonly progress?: (done: number) => void;
}

/** Bound on the time one input may take before the run counts it as a hang. */
export const inputTimeoutMs = 10_000;

const codes = new Set<string>(Object.values(ErrorCode));

/** A code documented in stdx/errors.ts (docs/errors.md). */
export function isStableCode(code: unknown): boolean {
  return typeof code === 'string' && codes.has(code);
}

/** fast-check parameters for a run: the seed, the count, a per-input timeout for async surfaces. */
export function runParameters(o: FuzzOptions): fc.Parameters<unknown> {
  return { seed: o.seed, numRuns: o.iterations, timeout: inputTimeoutMs, endOnFailure: true };
}

/** Counts checked inputs and reports every `every` of them. */
export function counter(o: FuzzOptions, every = 1000): () => void {
  let done = 0;
  return () => {
    done++;
    if (done % every === 0) o.progress?.(done);
  };
}

/** A byte string: random, or empty, or large; bytes often from a small alphabet near boundaries. */
export function bytes(maxLength: number): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
}

/** A mutation of a valid frame: truncation, flipped bytes, a spliced tail, or a replay of itself. */
export type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; positions: number[]; values: number[] }
  | { kind: 'append'; tail: Buffer }
  | { kind: 'replay'; times: number }
  | { kind: 'none' };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), positions: fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), values: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('append' as const), tail: bytes(64) }),
  fc.record({ kind: fc.constant('replay' as const), times: fc.integer({ min: 2, max: 4 }) }),
  fc.constant({ kind: 'none' as const }),
);

export function mutate(frame: Buffer, m: Mutation): Buffer {
  switch (m.kind) {
    case 'truncate':
      return Buffer.from(frame.subarray(0, frame.length === 0 ? 0 : m.at % frame.length));
    case 'flip': {
      const out = Buffer.from(frame);
      if (out.length > 0) m.positions.forEach((p, i) => (out[p % out.length] = m.values[i]!));
      return out;
    }
    case 'append':
      return Buffer.concat([frame, m.tail]);
    case 'replay':
      return Buffer.concat(Array.from({ length: m.times }, () => frame));
    case 'none':
      return Buffer.from(frame);
  }
}
