/**
 * bench/meta: the metadata service side by side with etcd. For each system: a 3-member cluster of
 * real processes on loopback, data on the same disk, driven by one Node client process.
 *   - writes of a small value (64 B) with 1 and with 64 concurrent clients
 *     (etcd: put of key bench/<k>; Basalt: SetVolumeLabel on volume bench-<k>)
 *   - linearizable reads with 64 concurrent clients (etcd: get; Basalt: GetVolume)
 *   - failover: kill -9 of the leader to the first acknowledged write, several trials
 *   - peak RSS (VmHWM) of every member
 * Each client works on its own key, so writes never conflict. Systems run one after the other,
 * never at once. Usage: pnpm bench:meta [--seconds 10] [--trials 3] [--systems etcd,basalt]
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
import type { BenchTarget } from './target.js';
import { measureFailover, runPhase, type PhaseResult } from './workload.js';

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

async function runPhases(target: BenchTarget, seconds: number): Promise<PhaseResult[]> {
  const common = { durationMs: seconds * 1000, maxOps: phaseOpsMax, opDeadlineMs };
  const write = (w: number, i: number): Promise<void> => target.write(w % keys, `${value}${i}`, opDeadlineMs);
  const read = (w: number): Promise<void> => target.read(w % keys, opDeadlineMs);
  const out: PhaseResult[] = [];
  out.push(await runPhase(target.system, { ...common, label: 'write, 1 client', concurrency: 1, op: write }));
  out.push(await runPhase(target.system, { ...common, label: 'write, 64 clients', concurrency: 64, op: write }));
  out.push(await runPhase(target.system, { ...common, label: 'linearizable read, 64 clients', concurrency: 64, op: read }));
  return out;
}

async function benchSystem(system: string, seconds: number, trials: number): Promise<SystemResult> {
  const target = targetFor(system);
  process.stderr.write(`[${system}] starting a 3-member cluster (load average ${loadavg()[0]!.toFixed(1)})\n`);
  const stop = (): void => {
    void target.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  try {
    await target.start();
    const sampler = new RssSampler(() => target.members);
    process.stderr.write(`[${system}] preparing ${keys} registers\n`);
    await target.prepare(keys);
    const phases = await runPhases(target, seconds);
    const failover = await measureFailover(target, trials, 0, () => sampler.sample());
    return { system, phases, failover, peakRssKiB: sampler.stop() };
  } finally {
    process.off('SIGINT', stop);
    await target.stop();
  }
}

function machine(): string {
  return `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      trials: { type: 'string', default: '3' },
      systems: { type: 'string', default: 'etcd,basalt' },
    },
  });
  const seconds = Number(values.seconds);
  const trials = Number(values.trials);
  if (!(seconds >= 1 && seconds <= 300)) throw new Error(`--seconds must be 1..300, got ${values.seconds}`);
  if (!(Number.isInteger(trials) && trials >= 1 && trials <= 20)) throw new Error(`--trials must be 1..20, got ${values.trials}`);
  const results: SystemResult[] = [];
  const failed: string[] = [];
  for (const system of values.systems.split(',')) {
    try {
      results.push(await benchSystem(system, seconds, trials));
    } catch (err) {
      // One system failing must not throw away what the other measured.
      failed.push(`${system}: ${(err as Error).message}`);
      process.stderr.write(`[${system}] FAILED: ${(err as Error).stack ?? String(err)}\n`);
    }
  }
  if (results.length === 0) throw new Error(`every system failed: ${failed.join('; ')}`);
  const when = new Date().toISOString();
  const load = `load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')} (other work on the machine skews absolute figures; compare ratios)`;
  const text = [`bench/meta ${when} on ${machine()}; ${seconds} s per phase, ${trials} failover trials`, load, '', renderTable(results), '', renderDetails(results)].join('\n');
  console.log(failed.length === 0 ? text : `${text}\nFAILED (not in the table): ${failed.join('; ')}`);
  mkdirSync('bench/out', { recursive: true });
  process.exitCode = failed.length === 0 ? 0 : 1;
  writeFileSync(`bench/out/meta-${when.replace(/[:.]/g, '-')}.json`, JSON.stringify({ when, machine: machine(), results: results.map((r) => ({ ...r, peakRssKiB: Object.fromEntries(r.peakRssKiB) })) }, null, 2));
}

await main();
