/**
 * CPU time and event-loop wake-ups per single-client write: starts a 3-member metad, runs
 * --warmup then --writes sequential SetVolumeLabel calls from this process and reads, around the
 * measured writes, each member's CPU time (/proc/PID/stat utime+stime, all threads) and its main
 * thread's voluntary context switches (/proc/PID/status: each is the event loop going to sleep in
 * epoll, so about one per wake-up). CPU time is robust to other load on the machine, unlike
 * latency; compare builds by alternating runs.
 * --clients runs that many closed loops at once (each its own volume), --writes in all.
 * Usage: pnpm exec tsx bench/meta/cpu-per-write.ts [--writes 1500] [--warmup 200] [--clients 1]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MiB } from '@basalt/stdx';
import { MetaCluster } from '../../test/lib/meta-cluster.js';
import { ProcessScope } from '../../test/lib/process.js';

const { values: args } = parseArgs({ options: { writes: { type: 'string', default: '1500' }, warmup: { type: 'string', default: '200' }, clients: { type: 'string', default: '1' } } });
const clockTicksPerSecond = 100;

interface Sample { cpuMs: number; wakeups: number }

function sample(pid: number): Sample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const wakeups = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return { cpuMs, wakeups };
}

const scope = new ProcessScope();
try {
  const cluster = await MetaCluster.start(scope, { tickMs: 50, electionTicks: 5 });
  const leader = await cluster.waitForLeader(undefined, 60_000);
  const pids = await Promise.all(cluster.members.map(async (_, i) => ({ i, pid: (await cluster.status(i)).pid })));
  const meta = cluster.client();
  const clients = Number(args.clients);
  for (let c = 0; c < clients; c++) await meta.call('createVolume', { name: `p${c}`, sizeBytes: 64 * MiB });
  const write = (c: number, i: number): Promise<unknown> => meta.call('setVolumeLabel', { name: `p${c}`, key: 'k', value: String(i) });
  for (let i = 0; i < Number(args.warmup); i++) await write(0, i);
  const n = Math.ceil(Number(args.writes) / clients) * clients;
  const before = pids.map(({ pid }) => sample(pid));
  const clientBefore = process.cpuUsage();
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; i < n / clients; i++) {
      const t = performance.now();
      await write(c, i);
      latencies.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientBefore);
  const after = pids.map(({ pid }) => sample(pid));
  latencies.sort((a, b) => a - b);
  const q = (p: number): string => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!.toFixed(2);
  process.stdout.write(`${n} writes by ${clients} client(s) in ${seconds.toFixed(1)} s (${(n / seconds).toFixed(0)}/s), p50 ${q(0.5)} ms, p99 ${q(0.99)} ms; client CPU ${((client.user + client.system) / 1000 / n).toFixed(3)} ms/write\n`);
  for (const { i } of pids) {
    const role = i === leader ? 'leader  ' : 'follower';
    const cpu = (after[i]!.cpuMs - before[i]!.cpuMs) / n;
    const wake = (after[i]!.wakeups - before[i]!.wakeups) / n;
    process.stdout.write(`${cluster.members[i]!.id} ${role} CPU ${cpu.toFixed(3)} ms/write, ${wake.toFixed(1)} wake-ups/write\n`);
  }
  process.stdout.write(`load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);
  cluster.close();
} finally {
  await scope.cleanup();
}
