/**
 * Whether garbage collection explains the tail of single-client writes: starts a 3-member metad
 * (bench:meta's settings) with a GC observer preloaded in every member (gc-observer-preload.mjs:
 * NODE_OPTIONS does not take --trace-gc) and imported by this client process, runs one closed-loop writer
 * (SetVolumeLabel) for --seconds after a warm-up, and prints, for all writes and for the slowest
 * 1%, the share that overlapped a GC pause of the leader, of a follower and of the client, and
 * each process's GC counts and pauses.
 * Usage: pnpm exec tsx bench/meta/gc-tail.ts [--seconds 10] [--dir /tmp/metad-gc]
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { MiB } from '@basalt/stdx';
import { MetaCluster } from '../../test/lib/meta-cluster.js';
import { ProcessScope } from '../../test/lib/process.js';

interface Pause { readonly start: number; readonly ms: number; readonly kind: string }
interface Write { readonly start: number; readonly ms: number }

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, dir: { type: 'string', default: '/tmp/metad-gc' } } });
const seconds = Number(args.seconds);
if (!(seconds >= 1 && seconds <= 300)) throw new Error(`--seconds must be 1..300, got ${args.seconds}`);
const dir = args.dir;
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith('.gc')) throw new Error(`${dir} already holds GC logs: use an empty --dir`);

function readPauses(pid: number): Pause[] {
  let text: string;
  try {
    text = readFileSync(join(dir, `${pid}.gc`), 'utf8');
  } catch {
    return [];
  }
  return text.trim().split('\n').filter((l) => l !== '').map((l) => {
    const [start, ms, kind] = l.split(' ');
    return { start: Number(start), ms: Number(ms), kind: kind ?? '?' };
  });
}

/** The share of `writes` that overlapped one of `pauses` (sorted by start). */
function overlapShare(writes: readonly Write[], pauses: readonly Pause[]): number {
  if (writes.length === 0) return 0;
  let hit = 0;
  for (const w of writes) if (pauses.some((p) => p.start < w.start + w.ms && p.start + p.ms > w.start)) hit++;
  return hit / writes.length;
}

function describePauses(pauses: readonly Pause[], from: number, to: number): string {
  const inRun = pauses.filter((p) => p.start >= from && p.start <= to);
  const byKind = new Map<string, { n: number; ms: number; max: number }>();
  for (const p of inRun) {
    const k = byKind.get(p.kind) ?? { n: 0, ms: 0, max: 0 };
    k.n++;
    k.ms += p.ms;
    k.max = Math.max(k.max, p.ms);
    byKind.set(p.kind, k);
  }
  return [...byKind].map(([kind, k]) => `${k.n} ${kind} (${k.ms.toFixed(0)} ms, max ${k.max.toFixed(1)} ms)`).join(', ') || 'none';
}

const pct = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

const scope = new ProcessScope();
const observer = join(import.meta.dirname, 'gc-observer-preload.mjs');
process.env.GC_LOG_DIR = dir;
await import(pathToFileURL(observer).href); // this client records its GC the way the members do
process.env.NODE_OPTIONS = `--import ${observer}`;
try {
  const cluster = await MetaCluster.start(scope, { tickMs: 50, electionTicks: 5 });
  delete process.env.NODE_OPTIONS;
  const client = cluster.client();
  const leaderIndex = await cluster.waitForLeader();
  await client.call('createVolume', { name: 'gc-tail', sizeBytes: 64 * MiB });
  const write = (i: number): Promise<unknown> => client.call('setVolumeLabel', { name: 'gc-tail', key: 'k', value: `${'v'.repeat(64)}${i}` });
  for (let i = 0, end = Date.now() + 1_000; Date.now() < end; i++) await write(i);
  const writes: Write[] = [];
  const from = performance.timeOrigin + performance.now();
  for (let i = 0, end = Date.now() + seconds * 1000; Date.now() < end; i++) {
    const t0 = performance.now();
    await write(i);
    writes.push({ start: performance.timeOrigin + t0, ms: performance.now() - t0 });
  }
  const to = performance.timeOrigin + performance.now();
  if ((await cluster.waitForLeader()) !== leaderIndex) throw new Error('the leader changed during the run: run again');
  await new Promise((r) => setTimeout(r, 500)); // every process flushes its GC log every 200 ms
  const sortedMs = writes.map((w) => w.ms).sort((a, b) => a - b);
  const p99 = pct(sortedMs, 0.99);
  const tail = writes.filter((w) => w.ms >= p99);
  const processes = cluster.members.map((m, i) => ({ name: `${m.id} (${i === leaderIndex ? 'leader' : 'follower'})`, pauses: readPauses(m.process!.pid) }));
  processes.push({ name: 'client', pauses: readPauses(process.pid) });
  console.log(`${writes.length} writes in ${seconds} s: p50 ${pct(sortedMs, 0.5).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, p99.9 ${pct(sortedMs, 0.999).toFixed(2)} ms, max ${sortedMs[sortedMs.length - 1]!.toFixed(2)} ms`);
  console.log('share of writes that overlapped a GC pause of each process: all writes / the slowest 1%');
  for (const p of processes) {
    console.log(`  ${p.name.padEnd(14)} ${(overlapShare(writes, p.pauses) * 100).toFixed(1).padStart(5)}% / ${(overlapShare(tail, p.pauses) * 100).toFixed(1).padStart(5)}%   GC during the run: ${describePauses(p.pauses, from, to)}`);
  }
  const anyPause = processes.flatMap((p) => p.pauses);
  console.log(`  ${'any'.padEnd(14)} ${(overlapShare(writes, anyPause) * 100).toFixed(1).padStart(5)}% / ${(overlapShare(tail, anyPause) * 100).toFixed(1).padStart(5)}%`);
} finally {
  await scope.cleanup();
}
