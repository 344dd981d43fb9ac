import { performance } from 'node:perf_hooks';
import { assert } from '@basalt/stdx';
import type { BenchTarget } from './target.js';
import { log } from '../lib/cli.js';

/** One closed-loop phase: `concurrency` workers, each issuing its next op when the last returns. */
export interface PhaseSpec {
  readonly label: string;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly maxOps: number;
  readonly opDeadlineMs: number;
  /** Worker `w`'s `i`-th operation. */
  op(worker: number, i: number): Promise<void>;
  /** CPU seconds the system's servers have used so far (all members, utime + stime). */
  serverCpuSeconds(): number;
}

export interface PhaseResult {
  readonly label: string;
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /**
   * CPU seconds the servers used during the phase, and this process (the client library driving
   * them): what an operation costs each side, apart from the other and from the machine's load.
   */
  readonly serverCpuSeconds: number;
  readonly clientCpuSeconds: number;
  /** Every acknowledged operation's latency, sorted (to merge rounds of one phase). */
  readonly latenciesMs: readonly number[];
}

const progressEveryMs = 1_000;
/** Errors past this many end a phase: a benchmark of a failing system measures nothing. */
const phaseErrorsMax = 100;

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function runPhase(system: string, spec: PhaseSpec): Promise<PhaseResult> {
  assert(spec.concurrency >= 1 && spec.maxOps >= spec.concurrency, 'phase needs workers and room for their ops');
  const latencies: number[] = [];
  let issued = 0;
  let errors = 0;
  const server0 = spec.serverCpuSeconds();
  const client0 = process.cpuUsage();
  const start = performance.now();
  const end = start + spec.durationMs;
  const progress = setInterval(() => {
    const s = (performance.now() - start) / 1000;
    log(`  [${system}] ${spec.label}: ${s.toFixed(0)} s, ${latencies.length} ops, ${(latencies.length / s).toFixed(0)}/s, ${errors} errors`);
  }, progressEveryMs);
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; performance.now() < end && issued < spec.maxOps && errors < phaseErrorsMax; i++) {
      issued++;
      const t0 = performance.now();
      try {
        await spec.op(w, i);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        if (errors <= 3) log(`  [${system}] ${spec.label}: error: ${(err as Error).message}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: spec.concurrency }, (_, w) => worker(w)));
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - start) / 1000;
  const client = process.cpuUsage(client0);
  return summarize(spec.label, latencies, errors, seconds, { server: spec.serverCpuSeconds() - server0, client: (client.user + client.system) / 1e6 });
}

function summarize(label: string, latencies: number[], errors: number, seconds: number, cpu: { server: number; client: number }): PhaseResult {
  latencies.sort((a, b) => a - b);
  return {
    label, ops: latencies.length, errors, seconds, opsPerSec: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99),
    serverCpuSeconds: cpu.server, clientCpuSeconds: cpu.client, latenciesMs: latencies,
  };
}

/** One phase measured in several rounds: the operations of all rounds over their summed time. */
export function mergeRounds(rounds: readonly PhaseResult[]): PhaseResult {
  assert(rounds.length > 0 && rounds.every((r) => r.label === rounds[0]!.label), 'rounds of one phase');
  const latencies = rounds.flatMap((r) => r.latenciesMs);
  const errors = rounds.reduce((n, r) => n + r.errors, 0);
  const sum = (f: (r: PhaseResult) => number): number => rounds.reduce((n, r) => n + f(r), 0);
  return summarize(rounds[0]!.label, latencies, errors, sum((r) => r.seconds), { server: sum((r) => r.serverCpuSeconds), client: sum((r) => r.clientCpuSeconds) });
}

export interface FailoverResult {
  /** Milliseconds from SIGKILL of the leader to the first acknowledged write, per trial. */
  readonly trialsMs: readonly number[];
  readonly medianMs: number;
  readonly maxMs: number;
}

/** Short, so a write stuck on a dead or leaderless member is soon retried (Raft elections take ~1 s). */
const failoverAttemptDeadlineMs = 300;
const failoverGiveUpMs = 30_000;
const failoverRetryPauseMs = 5;

/** Kill -9 the leader, then write until one write is acknowledged; restart it; repeat. */
export async function measureFailover(target: BenchTarget, trials: number, key: number, beforeKill: () => void): Promise<FailoverResult> {
  const trialsMs: number[] = [];
  for (let t = 0; t < trials; t++) {
    await target.write(key, `before-${t}`, 10_000);
    const leader = await target.leader();
    beforeKill();
    const killedAt = performance.now();
    await target.kill(leader);
    let attempts = 0;
    const seen = new Set<string>();
    for (;;) {
      const elapsed = performance.now() - killedAt;
      if (elapsed > failoverGiveUpMs) throw new Error(`${target.system}: no write succeeded ${failoverGiveUpMs} ms after killing the leader`);
      attempts++;
      try {
        await target.write(key, `after-${t}-${attempts}`, failoverAttemptDeadlineMs);
        break;
      } catch (err) {
        const message = (err as Error).message.slice(0, 100);
        if (!seen.has(message)) log(`  [${target.system}] failover ${t + 1}: ${(performance.now() - killedAt).toFixed(0)} ms: ${message}`);
        seen.add(message);
        await new Promise((r) => setTimeout(r, failoverRetryPauseMs));
      }
    }
    const ms = performance.now() - killedAt;
    trialsMs.push(ms);
    log(`  [${target.system}] failover ${t + 1}/${trials}: killed ${leader.name}, first write after ${ms.toFixed(0)} ms (${attempts} attempts)`);
    await target.restart(leader);
  }
  const sorted = [...trialsMs].sort((a, b) => a - b);
  return { trialsMs, medianMs: percentile(sorted, 0.5), maxMs: sorted[sorted.length - 1]! };
}
