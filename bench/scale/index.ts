/**
 * bench/scale: how metad's cost grows with the number of volumes and extents. One metad cluster
 * (real `basalt meta start` processes on loopback, 1 member unless --members) is filled step by
 * step to 100, 1,000, 10,000 and 100,000 volumes (up to --max-volumes), each volume with
 * --extents-per-volume allocated extents (AllocateExtent, one call per extent: the API has no
 * bulk allocation). Throughout, 100 lightweight chunk servers (in-process, one MetaClient
 * channel: RegisterServer, then a Heartbeat each every second) keep the cluster up. After each
 * step:
 *   - 200 clients (one MetaClient channel each) at once open a random volume (AcquireLease),
 *     fetch its extent map (GetExtentMap) and close it (ReleaseLease), three times each;
 *   - single-client probes: CreateVolume, Status, GetRepairStatus, ListVolumes (one page);
 *   - writes labels until the leader takes a Raft snapshot, and reports its size and time
 *     (basalt_meta_snapshot_bytes / _seconds);
 *   - the leader's RSS, and its CPU over --idle-seconds with only the heartbeats running;
 *   - the leader's Raft term (with --members 3: a term that grows between steps counts elections).
 * metad runs with NODE_OPTIONS=--metad-node-options (default: the V8 heap cap of the deployment
 * manifests, deploy/k8s/metad.yaml; '' for none).
 * Usage: pnpm bench:scale [--max-volumes 100000] [--extents-per-volume 2] [--members 1] [--idle-seconds 5] [--metad-node-options '--max-old-space-size=160']
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { GiB, MiB } from '@basalt/stdx';
import type { MetaClient } from '@basalt/wire';
import { MetaCluster } from '../../test/lib/meta-cluster.js';
import { ProcessScope } from '../../test/lib/process.js';

const chunkServers = 100;
const openClients = 200;
const opensPerClient = 3;
const fillConcurrency = 64;
const probeCount = 50;
const snapshotEntries = 5_000;
const steps = [100, 1_000, 10_000, 100_000];

interface StepResult {
  volumes: number;
  extents: number;
  fillSeconds: number;
  rssMiB: number;
  snapshotBytes: number;
  snapshotMs: number;
  idleCpuPercent: number;
  /** The leader's Raft term at the end of the step: a term that grows between steps counts elections. */
  term: number;
  create: number[];
  open: number[];
  extentMap: number[];
  status: number[];
  repairStatus: number[];
  listPage: number[];
}

const { values: args } = parseArgs({
  options: {
    'max-volumes': { type: 'string', default: '100000' },
    'extents-per-volume': { type: 'string', default: '2' },
    members: { type: 'string', default: '1' },
    'idle-seconds': { type: 'string', default: '5' },
    'metad-node-options': { type: 'string', default: '--max-old-space-size=160' },
  },
});
const maxVolumes = Number(args['max-volumes']);
const extentsPerVolume = Number(args['extents-per-volume']);
const members = Number(args.members);
const idleSeconds = Number(args['idle-seconds']);
const name = (v: number): string => `pvc-${String(v).padStart(6, '0')}`;

/** Runs `op(i)` for i in [from, to) with `concurrency` callers. */
async function forEach(from: number, to: number, concurrency: number, op: (i: number) => Promise<void>): Promise<void> {
  let next = from;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < to) await op(next++);
  }));
}

async function timed(samples: number[], op: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await op();
  samples.push(performance.now() - started);
}

function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function procStat(pid: number): { rssKiB: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN);
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssKiB, cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

async function metric(address: string, metricName: string): Promise<number> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const m = new RegExp(`^${metricName} ([0-9.e+-]+)$`, 'm').exec(text);
  return m === null ? NaN : Number(m[1]);
}

/** 100 chunk servers: registered once, then a heartbeat each every second until stopped. */
function startChunkServers(meta: MetaClient): { ready: Promise<void>; stop: () => void } {
  const ids = Array.from({ length: chunkServers }, (_, i) => `chunk-${String(i).padStart(3, '0')}`);
  let timer: NodeJS.Timeout | undefined;
  const ready = (async () => {
    await Promise.all(ids.map((id, i) => meta.call('registerServer', { id, address: `127.0.0.1:${20_000 + i}`, zone: `zone-${i % 3}`, capacityBytes: 100_000 * GiB, freeBytes: 100_000 * GiB })));
    timer = setInterval(() => {
      for (const id of ids) void meta.call('heartbeat', { id, freeBytes: 100_000 * GiB }).catch(() => undefined);
    }, 1_000);
  })();
  return { ready, stop: () => clearInterval(timer) };
}

async function fill(meta: MetaClient, from: number, to: number): Promise<void> {
  await forEach(from, to, fillConcurrency, async (v) => {
    await meta.call('createVolume', { name: name(v), sizeBytes: 64 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 3 });
    for (let i = 0; i < extentsPerVolume; i++) await meta.call('allocateExtent', { volume: name(v), index: i * 7 });
  });
}

/** 200 clients at once: open (lease), fetch the extent map, close; three times each. */
async function opens(clients: readonly MetaClient[], volumes: number, result: StepResult): Promise<void> {
  let seed = 12345;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % volumes;
  await Promise.all(clients.map(async (client, c) => {
    for (let k = 0; k < opensPerClient; k++) {
      const volume = name(random());
      const clientId = `bench-client-${c}`;
      let generation = 0;
      await timed(result.open, async () => (generation = (await client.call('acquireLease', { volume, clientId, force: true })).generation));
      await timed(result.extentMap, () => client.call('getExtentMap', { volume, fromIndex: 0, count: 0 }));
      await client.call('releaseLease', { volume, clientId, generation }).catch(() => undefined); // another client may have taken it (force)
    }
  }));
}

/** Single-client probes; a create re-creates a volume deleted just before (the count stays at the step's). */
async function probes(meta: MetaClient, volumes: number, result: StepResult): Promise<void> {
  for (let i = 0; i < probeCount; i++) {
    const v = (i * 7919) % volumes;
    await meta.call('deleteVolume', { name: name(v), force: true });
    await timed(result.create, () => meta.call('createVolume', { name: name(v), sizeBytes: 64 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 3 }));
    for (let x = 0; x < extentsPerVolume; x++) await meta.call('allocateExtent', { volume: name(v), index: x * 7 });
    await timed(result.status, () => meta.call('status', {}));
    await timed(result.repairStatus, () => meta.call('getRepairStatus', {}));
    await timed(result.listPage, () => meta.call('listVolumes', { limit: 1000 }));
  }
}

/** Writes labels until the leader's snapshot counter moves. */
async function forceSnapshot(meta: MetaClient, metricsAddress: string, volumes: number): Promise<void> {
  const before = await metric(metricsAddress, 'basalt_meta_snapshots_total');
  for (let round = 0; round < 2 * snapshotEntries / 100; round++) {
    await forEach(0, 100, 16, async (i) => {
      await meta.call('setVolumeLabel', { name: name((round * 100 + i) % volumes), key: 'bench', value: String(round) });
    });
    if ((await metric(metricsAddress, 'basalt_meta_snapshots_total')) > before) return;
  }
  throw new Error('no snapshot after twice --snapshot-entries writes');
}

async function step(cluster: MetaCluster, meta: MetaClient, clients: readonly MetaClient[], to: number, fillSeconds: number): Promise<StepResult> {
  const leaderIndex = await cluster.waitForLeader();
  const leader = await cluster.status(leaderIndex);
  const pid = leader.pid;
  const result: StepResult = {
    volumes: to, extents: to * extentsPerVolume, fillSeconds, rssMiB: 0, snapshotBytes: 0, snapshotMs: 0, idleCpuPercent: 0, term: 0,
    create: [], open: [], extentMap: [], status: [], repairStatus: [], listPage: [],
  };
  await opens(clients, to, result);
  await probes(meta, to, result);
  await forceSnapshot(meta, leader.metricsAddress, to);
  result.snapshotBytes = await metric(leader.metricsAddress, 'basalt_meta_snapshot_bytes');
  result.snapshotMs = 1000 * (await metric(leader.metricsAddress, 'basalt_meta_snapshot_seconds'));
  const idleFrom = procStat(pid);
  const idleStarted = performance.now();
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const idleTo = procStat(pid);
  result.idleCpuPercent = (100 * (idleTo.cpuTicks - idleFrom.cpuTicks) / 100) / ((performance.now() - idleStarted) / 1000);
  result.rssMiB = idleTo.rssKiB / 1024;
  result.term = Number((await cluster.status(await cluster.waitForLeader())).term);
  return result;
}

function render(results: readonly StepResult[]): string {
  const ms = (s: readonly number[]): string => `${percentile(s, 50).toFixed(1)} / ${percentile(s, 99).toFixed(1)}`;
  const lines = [
    '| volumes | extents | fill s | leader RSS MiB | snapshot MiB | snapshot ms | idle CPU % | term | create p50/p99 ms | open p50/p99 ms | extent map p50/p99 ms | status p50/p99 ms | repair status p50/p99 ms | list page p50/p99 ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    lines.push(`| ${r.volumes} | ${r.extents} | ${r.fillSeconds.toFixed(0)} | ${r.rssMiB.toFixed(0)} | ${(r.snapshotBytes / MiB).toFixed(2)} | ${r.snapshotMs.toFixed(0)} | ${r.idleCpuPercent.toFixed(1)} | ${r.term} | ${ms(r.create)} | ${ms(r.open)} | ${ms(r.extentMap)} | ${ms(r.status)} | ${ms(r.repairStatus)} | ${ms(r.listPage)} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const scope = new ProcessScope();
  const stopOnSigint = (): void => void scope.cleanup().finally(() => process.exit(130));
  process.once('SIGINT', stopOnSigint);
  try {
    process.stderr.write(`[scale] ${members}-member metad (NODE_OPTIONS='${args['metad-node-options']}'), ${chunkServers} chunk servers, ${extentsPerVolume} extents per volume, up to ${maxVolumes} volumes (load average ${loadavg()[0]!.toFixed(1)})\n`);
    // The members are spawned with this process's environment: only they see the option.
    process.env.NODE_OPTIONS = args['metad-node-options'];
    const cluster = await MetaCluster.start(scope, { size: members, flags: ['--snapshot-entries', String(snapshotEntries)] });
    await cluster.waitForLeader(undefined, 60_000);
    const meta = cluster.client({ callTimeoutMs: 60_000, attemptTimeoutMs: 30_000 });
    const servers = startChunkServers(meta);
    await servers.ready;
    const clients = Array.from({ length: openClients }, () => cluster.client({ callTimeoutMs: 60_000, attemptTimeoutMs: 30_000 }));
    const results: StepResult[] = [];
    let filled = 0;
    for (const target of steps.filter((s) => s <= maxVolumes)) {
      const started = performance.now();
      await fill(meta, filled, target);
      const fillSeconds = (performance.now() - started) / 1000;
      filled = target;
      results.push(await step(cluster, meta, clients, target, fillSeconds));
      process.stderr.write(`[scale] ${target} volumes done (load average ${loadavg()[0]!.toFixed(1)})\n${render(results.slice(-1))}\n`);
    }
    servers.stop();
    process.stdout.write(`\n${render(results)}\n`);
  } finally {
    process.off('SIGINT', stopOnSigint);
    await scope.cleanup();
  }
}

await main();
