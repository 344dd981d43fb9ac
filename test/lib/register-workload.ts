/**
 * Jepsen-style clients of the real metad cluster: each volume label is a register, operated on by
 * read (GetVolume, linearizable), write (SetVolumeLabel) and compare-and-set (SetVolumeLabel with
 * `expect`). Every operation goes into a history for the linearizability checker:
 *   - an answer is a completed operation with its output;
 *   - BASALT_NOT_LEADER certainly did not apply (the server's contract), so the operation is left out;
 *   - any other failure of a mutation (timeout, lost connection) is an unknown outcome: it may have
 *     taken effect at any time after its call; the client then continues as a new "process"
 *     (a new client id), as in Jepsen, since the old request may still be in flight;
 *   - a failed read is left out (it constrains nothing).
 */
import { performance } from 'node:perf_hooks';
import type { KvInput, KvOutput, Operation } from '@basalt/raft/testing';
import { BasaltError, ErrorCode, type Prng } from '@basalt/stdx';
import { MetaClient } from '@basalt/wire/meta';

export interface RegisterWorkloadOptions {
  readonly endpoints: readonly string[];
  readonly clients: number;
  /** Volume names; each volume's label `label` is one register. */
  readonly volumes: readonly string[];
  readonly label: string;
  readonly durationMs: number;
  readonly opsMax: number;
  /** Total time of one call (across redirects); past it the outcome is unknown. */
  readonly opTimeoutMs: number;
  readonly prng: Prng;
}

export interface RegisterWorkloadStats {
  ok: number;
  /** Refused with certainty (not applied). */
  refused: number;
  unknown: number;
  failedReads: number;
}

type Outcome = { kind: 'ok'; output: KvOutput } | { kind: 'refused' } | { kind: 'unknown' };

function classify(input: KvInput, err: unknown): Outcome {
  if (!(err instanceof BasaltError)) throw err;
  if (input.kind === 'cas' && err.code === ErrorCode.CompareFailed) return { kind: 'ok', output: { kind: 'cas', ok: false } };
  if (err.code === ErrorCode.NotLeader) return { kind: 'refused' };
  // A register that vanished or a rejected argument is a bug in the test or the server.
  if (err.code === ErrorCode.VolumeNotFound || err.code === ErrorCode.InvalidArgument) throw err;
  return { kind: 'unknown' };
}

async function perform(client: MetaClient, input: KvInput, label: string, timeoutMs: number): Promise<KvOutput> {
  const options = { timeoutMs };
  switch (input.kind) {
    case 'read': {
      const reply = await client.call('getVolume', { name: input.key }, options);
      return { kind: 'read', value: reply.volume?.labels?.[label] ?? null };
    }
    case 'write':
      await client.call('setVolumeLabel', { name: input.key, key: label, value: input.value }, options);
      return { kind: 'write' };
    case 'cas':
      // The API's expect: '' means "absent", the model's null.
      await client.call('setVolumeLabel', { name: input.key, key: label, value: input.value, expect: input.expected ?? '' }, options);
      return { kind: 'cas', ok: true };
  }
}

/** Runs the clients until the duration or the operation budget is used up; returns the history. */
export class RegisterWorkload {
  readonly history: Operation<KvInput, KvOutput>[] = [];
  readonly stats: RegisterWorkloadStats = { ok: 0, refused: 0, unknown: 0, failedReads: 0 };
  private issued = 0;
  private nextClientId = 0;
  private seq = 0;

  constructor(private readonly opts: RegisterWorkloadOptions) {}

  async run(): Promise<void> {
    const end = performance.now() + this.opts.durationMs;
    await Promise.all(Array.from({ length: this.opts.clients }, () => this.client(end)));
  }

  /** Reads every register once, after the faults are over, so the history ends with known values. */
  async readAll(): Promise<void> {
    const meta = new MetaClient({ endpoints: this.opts.endpoints, callTimeoutMs: 30_000 });
    const clientId = this.nextClientId++;
    try {
      for (const key of this.opts.volumes) {
        const input: KvInput = { kind: 'read', key };
        const callTime = performance.now();
        const output = await perform(meta, input, this.opts.label, 30_000);
        this.history.push({ clientId, input, callTime, returnTime: performance.now(), output });
        this.stats.ok++;
      }
    } finally {
      meta.close();
    }
  }

  private nextInput(seen: Map<string, string | null>): KvInput {
    const { prng } = this.opts;
    const key = prng.pick(this.opts.volumes);
    const roll = prng.float();
    if (roll < 0.4) return { kind: 'read', key };
    const value = `v${this.seq++}`;
    if (roll < 0.7) return { kind: 'write', key, value };
    return { kind: 'cas', key, expected: seen.get(key) ?? null, value };
  }

  private async client(end: number): Promise<void> {
    const meta = new MetaClient({ endpoints: this.opts.endpoints, retryMutations: false, attemptTimeoutMs: Math.min(1_000, this.opts.opTimeoutMs), callTimeoutMs: this.opts.opTimeoutMs });
    let clientId = this.nextClientId++;
    const seen = new Map<string, string | null>();
    try {
      while (performance.now() < end && this.issued < this.opts.opsMax) {
        this.issued++;
        const input = this.nextInput(seen);
        const callTime = performance.now();
        let outcome: Outcome;
        try {
          outcome = { kind: 'ok', output: await perform(meta, input, this.opts.label, this.opts.opTimeoutMs) };
        } catch (err) {
          outcome = classify(input, err);
        }
        const returnTime = performance.now();
        if (outcome.kind === 'ok') {
          this.stats.ok++;
          this.history.push({ clientId, input, callTime, returnTime, output: outcome.output });
          if (outcome.output.kind === 'read') seen.set(input.key, outcome.output.value);
          if (input.kind !== 'read' && (outcome.output.kind === 'write' || (outcome.output.kind === 'cas' && outcome.output.ok))) seen.set(input.key, input.value);
        } else if (input.kind === 'read') {
          this.stats.failedReads++;
        } else if (outcome.kind === 'refused') {
          this.stats.refused++;
        } else {
          this.stats.unknown++;
          this.history.push({ clientId, input, callTime });
          clientId = this.nextClientId++;
        }
      }
    } finally {
      meta.close();
    }
  }
}
