/**
 * Where a single client's writes spend their time: starts a 3-member metad with a CPU profiler
 * in every member (cpu-profile-preload.mjs: NODE_OPTIONS does not take --cpu-prof), runs one closed-loop writer (SetVolumeLabel) for --seconds, stops the members
 * gracefully (the profiles are written on exit) and prints the leader's top self-time functions.
 * Usage: pnpm exec tsx bench/meta/profile-writes.ts [--seconds 8] [--dir /tmp/metad-prof] [--tls]
 * (--tls: members and the client over mutual TLS, as `basalt up` runs them)
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MiB } from '@basalt/stdx';
import { MetaCluster } from '../../test/lib/meta-cluster.js';
import { ProcessScope } from '../../test/lib/process.js';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, dir: { type: 'string', default: '/tmp/metad-prof' }, tls: { type: 'boolean', default: false } } });
const dir = args.dir;
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith('.cpuprofile')) throw new Error(`${dir} already holds profiles: use an empty --dir`);

/** Self time by function (ms), largest first. */
function selfTimes(profile: CpuProfile): [string, number][] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...self].sort((a, b) => b[1] - a[1]);
}

const scope = new ProcessScope();
process.env.NODE_OPTIONS = `--import ${join(import.meta.dirname, 'cpu-profile-preload.mjs')}`;
process.env.CPUPROFILE_DIR = dir;
try {
  const cluster = await MetaCluster.start(scope, { tls: args.tls });
  delete process.env.NODE_OPTIONS;
  delete process.env.CPUPROFILE_DIR;
  const leader = await cluster.waitForLeader(undefined, 60_000);
  const leaderPid = (await cluster.status(leader)).pid;
  const meta = cluster.client();
  await meta.call('createVolume', { name: 'p', sizeBytes: 64 * MiB });
  const latencies: number[] = [];
  const until = performance.now() + Number(args.seconds) * 1000;
  for (let i = 0; performance.now() < until; i++) {
    const started = performance.now();
    await meta.call('setVolumeLabel', { name: 'p', key: 'k', value: String(i) });
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  process.stdout.write(`${latencies.length} writes, p50 ${latencies[latencies.length >> 1]!.toFixed(2)} ms, p99 ${latencies[Math.floor(latencies.length * 0.99)]!.toFixed(2)} ms\n`);
  cluster.close();
  for (let i = 0; i < 3; i++) await cluster.signal(i, 'SIGTERM');
  const file = readdirSync(dir).find((f) => f === `${leaderPid}.cpuprofile`);
  if (file === undefined) throw new Error(`no profile of the leader (pid ${leaderPid}) in ${dir}`);
  const top = selfTimes(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile).slice(0, 25);
  process.stdout.write(`leader profile ${join(dir, file)}; top self time:\n${top.map(([k, ms]) => `${ms.toFixed(0).padStart(6)} ms  ${k}`).join('\n')}\n`);
} finally {
  await scope.cleanup();
}
