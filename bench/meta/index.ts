/**
 * bench/meta: the metadata service side by side with etcd. For each system: a 3-member cluster of
 * real processes on loopback, data on the same disk, driven by one Node client process.
 *   - writes of a small value (64 B) with 1 and with 64 concurrent clients
 *     (etcd: put of key bench/<k>; Basalt: SetVolumeLabel on volume bench-<k>)
 *   - linearizable reads with 64 concurrent clients (etcd: get; Basalt: GetVolume)
 *   - failover: kill -9 of the leader to the first acknowledged write, several trials
 *   - per phase, the CPU per operation of the servers (all members) and of this client process
 *     (each system's client library: the etcd3 npm client, Basalt's MetaClient)
 *   - peak RSS (VmHWM) of every member
 * Each client works on its own key, so writes never conflict. Both clusters run (the idle one
 * only heartbeats), but the workload drives one system at a time: each phase is split into
 * --rounds rounds that alternate between the systems (and swap their order every round), so
 * load from other work on a shared machine falls on both alike. Failover trials run one system
 * after the other. Usage: pnpm bench:meta [--seconds 10] [--rounds 5] [--trials 3] [--systems etcd,basalt]
 * "basalt-tls" is Basalt with mutual TLS on every link (the client as an admin; roles checked on
 * every call): `--systems basalt,basalt-tls` measures what security costs metad.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { BasaltTarget } from './basalt-target.js';
import { EtcdTarget } from './etcd-target.js';
import { renderDetails, renderTable, type SystemResult } from './report.js';
import { RssSampler } from './rss.js';
import { cpuSeconds } from '../lib/proc-stats.js';
import type { BenchTarget } from './target.js';
import { measureFailover, mergeRounds, runPhase, type FailoverResult, type PhaseResult } from './workload.js';

const keys = 64;
const value = 'v'.repeat(64);
const opDeadlineMs = 5_000;
const phaseOpsMax = 500_000;

function targetFor(system: string): BenchTarget {
  if (system === 'etcd') return new EtcdTarget();
  if (system === 'basalt') return new BasaltTarget();
  if (system === 'basalt-tls') return new BasaltTarget(true);
  throw new Error(`unknown system "${system}"; allowed: etcd, basalt, basalt-tls`);
}

interface PhaseKind {
  readonly label: string;
  readonly concurrency: number;
  readonly reads: boolean;
}

const phaseKinds: readonly PhaseKind[] = [
  { label: 'write, 1 client', concurrency: 1, reads: false },
  { label: 'write, 64 clients', concurrency: 64, reads: false },
  { label: 'linearizable read, 64 clients', concurrency: 64, reads: true },
];

/** A system whose cluster is up: its rounds of each phase so far. */
interface Running {
  readonly system: string;
  readonly target: BenchTarget;
  readonly sampler: RssSampler;
  readonly rounds: PhaseResult[][];
  failover?: FailoverResult;
}

async function startSystem(system: string): Promise<Running> {
  const target = targetFor(system);
  process.stderr.write(`[${system}] starting a 3-member cluster (load average ${loadavg()[0]!.toFixed(1)})\n`);
  try {
    await target.start();
    const sampler = new RssSampler(() => target.members);
    process.stderr.write(`[${system}] preparing ${keys} registers\n`);
    await target.prepare(keys);
    return { system, target, sampler, rounds: phaseKinds.map(() => []) };
  } catch (err) {
    await target.stop();
    throw err;
  }
}

function runRound(s: Running, kind: PhaseKind, durationMs: number): Promise<PhaseResult> {
  const { target } = s;
  const op = kind.reads
    ? (w: number): Promise<void> => target.read(w % keys, opDeadlineMs)
    : (w: number, i: number): Promise<void> => target.write(w % keys, `${value}${i}`, opDeadlineMs);
  const serverCpuSeconds = (): number => target.members.reduce((sum, m) => sum + (cpuSeconds(m.pid) ?? 0), 0);
  return runPhase(target.system, { label: kind.label, concurrency: kind.concurrency, durationMs, maxOps: phaseOpsMax, opDeadlineMs, op, serverCpuSeconds });
}

/** Runs every phase in `rounds` alternating rounds, then each system's failover trials. */
async function benchAll(running: Running[], seconds: number, rounds: number, trials: number, failed: string[]): Promise<SystemResult[]> {
  const drop = async (s: Running, err: unknown): Promise<void> => {
    // One system failing must not throw away what the other measured.
    failed.push(`${s.system}: ${(err as Error).message}`);
    process.stderr.write(`[${s.system}] FAILED: ${(err as Error).stack ?? String(err)}\n`);
    running.splice(running.indexOf(s), 1);
    s.sampler.stop();
    await s.target.stop();
  };
  for (const [k, kind] of phaseKinds.entries()) {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [...running] : [...running].reverse();
      for (const s of order) {
        process.stderr.write(`[${s.system}] ${kind.label}: round ${r + 1}/${rounds}\n`);
        try {
          s.rounds[k]!.push(await runRound(s, kind, (seconds * 1000) / rounds));
        } catch (err) {
          await drop(s, err);
        }
      }
    }
  }
  for (const s of [...running]) {
    try {
      s.failover = await measureFailover(s.target, trials, 0, () => s.sampler.sample());
    } catch (err) {
      await drop(s, err);
    }
  }
  return running.map((s) => ({ system: s.system, phases: s.rounds.map(mergeRounds), failover: s.failover!, peakRssKiB: s.sampler.stop() }));
}

function machine(): string {
  return `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '5' },
      trials: { type: 'string', default: '3' },
      systems: { type: 'string', default: 'etcd,basalt' },
    },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const trials = Number(values.trials);
  if (!(seconds >= 1 && seconds <= 300)) throw new Error(`--seconds must be 1..300, got ${values.seconds}`);
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= seconds)) throw new Error(`--rounds must be 1..seconds, got ${values.rounds}`);
  if (!(Number.isInteger(trials) && trials >= 1 && trials <= 20)) throw new Error(`--trials must be 1..20, got ${values.trials}`);
  const failed: string[] = [];
  const running: Running[] = [];
  const stop = (): void => {
    void Promise.all(running.map((s) => s.target.stop())).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  let results: SystemResult[];
  try {
    for (const system of values.systems.split(',')) {
      try {
        running.push(await startSystem(system));
      } catch (err) {
        failed.push(`${system}: ${(err as Error).message}`);
        process.stderr.write(`[${system}] FAILED: ${(err as Error).stack ?? String(err)}\n`);
      }
    }
    results = await benchAll(running, seconds, rounds, trials, failed);
  } finally {
    process.off('SIGINT', stop);
    await Promise.all(running.map((s) => s.target.stop()));
  }
  if (results.length === 0) throw new Error(`every system failed: ${failed.join('; ')}`);
  const when = new Date().toISOString();
  const load = `load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')} (other work on the machine skews absolute figures; compare ratios)`;
  const text = [`bench/meta ${when} on ${machine()}; ${seconds} s per phase in ${rounds} alternating rounds, ${trials} failover trials`, load, '', renderTable(results), '', renderDetails(results)].join('\n');
  console.log(failed.length === 0 ? text : `${text}\nFAILED (not in the table): ${failed.join('; ')}`);
  mkdirSync('bench/out', { recursive: true });
  process.exitCode = failed.length === 0 ? 0 : 1;
  writeFileSync(`bench/out/meta-${when.replace(/[:.]/g, '-')}.json`, JSON.stringify({ when, machine: machine(), results: results.map((r) => ({ ...r, phases: r.phases.map(({ latenciesMs: _, ...p }) => p), peakRssKiB: Object.fromEntries(r.peakRssKiB) })) }, null, 2));
}

await main();
