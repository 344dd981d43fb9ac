import { unreachable } from '@basalt/stdx';
import type { Model } from './linearizability.js';

/**
 * A map of registers: each key holds a string or nothing (null). The
 * simulation's key-value state machine and the real cluster's "volume label"
 * registers are both checked against it.
 */
export type KvInput =
  | { readonly kind: 'read'; readonly key: string }
  | { readonly kind: 'write'; readonly key: string; readonly value: string }
  /** Sets `value` if the register holds `expected` (null: the key is absent). */
  | { readonly kind: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

export type KvOutput =
  | { readonly kind: 'read'; readonly value: string | null }
  | { readonly kind: 'write' }
  | { readonly kind: 'cas'; readonly ok: boolean };

/** One register's value; the model is partitioned per key. */
export type KvState = string | null;

function stepRead(state: KvState, output: KvOutput | undefined): KvState[] {
  if (output === undefined) return [state];
  return output.kind === 'read' && output.value === state ? [state] : [];
}

function stepCas(state: KvState, expected: string | null, value: string, output: KvOutput | undefined): KvState[] {
  const matches = state === expected;
  if (output === undefined) return matches && value !== state ? [value, state] : [state];
  if (output.kind !== 'cas') return [];
  if (output.ok) return matches ? [value] : [];
  return matches ? [] : [state];
}

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.kind) {
      case 'read':
        return stepRead(state, output);
      case 'write':
        return output === undefined || output.kind === 'write' ? [input.value] : [];
      case 'cas':
        return stepCas(state, input.expected, input.value, output);
      default:
        return unreachable(input);
    }
  },
  partition: (input) => input.key,
  stateKey: (state) => (state === null ? '-' : `=${state}`),
  readOnly: (input) => input.kind === 'read',
  describe(input, output) {
    const answer = output === undefined ? '?' : describeOutput(output);
    switch (input.kind) {
      case 'read':
        return `read(${input.key}) -> ${answer}`;
      case 'write':
        return `write(${input.key}, ${input.value}) -> ${answer}`;
      case 'cas':
        return `cas(${input.key}, ${String(input.expected)}, ${input.value}) -> ${answer}`;
      default:
        return unreachable(input);
    }
  },
};

function describeOutput(output: KvOutput): string {
  switch (output.kind) {
    case 'read':
      return String(output.value);
    case 'write':
      return 'ok';
    case 'cas':
      return output.ok ? 'ok' : 'failed';
    default:
      return unreachable(output);
  }
}
