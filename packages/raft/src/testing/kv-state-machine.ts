import { assert, unreachable } from '@basalt/stdx';
import type { KvInput, KvOutput } from './kv-model.js';

/** A client command as stored in a log entry: the request id and the operation. */
export interface KvCommand {
  readonly requestId: string;
  readonly input: KvInput;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const cmd = JSON.parse(decoder.decode(data)) as KvCommand;
  assert(typeof cmd.requestId === 'string' && typeof cmd.input === 'object', 'log entry is not a KvCommand');
  return cmd;
}

/**
 * The replicated key-value state machine of the simulation: registers with
 * read, write and compare-and-set. Deterministic; its image is a snapshot.
 */
export class KvStateMachine {
  private readonly values = new Map<string, string>();

  apply(input: KvInput): KvOutput {
    const current = this.values.get(input.key) ?? null;
    switch (input.kind) {
      case 'read':
        return { kind: 'read', value: current };
      case 'write':
        this.values.set(input.key, input.value);
        return { kind: 'write' };
      case 'cas': {
        const ok = current === input.expected;
        if (ok) this.values.set(input.key, input.value);
        return { kind: 'cas', ok };
      }
      default:
        return unreachable(input);
    }
  }

  get(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  encode(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.values].sort(([a], [b]) => (a < b ? -1 : 1))));
  }

  static decode(data: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine();
    if (data.length === 0) return sm;
    for (const [k, v] of JSON.parse(decoder.decode(data)) as [string, string][]) sm.values.set(k, v);
    return sm;
  }
}
