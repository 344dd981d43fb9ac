/**
 * `pnpm bench:snapshots`: what snapshots cost, on one cluster of real processes (bench/repair's
 * cluster: 3 metad, 3 chunk servers, the agent, data dirs in $TMPDIR), through the SDK:
 *   1. a 3-replica volume of --size is written in full (1 MiB writes, QD8);
 *   2. random 4 KiB writes at QD8 for --seconds without any snapshot (IOPS);
 *   3. a snapshot (latency with 0 snapshots before it), then the same random writes again: the
 *      first write to each block after a snapshot copies the block into the snapshot's layer
 *      (IOPS with a fresh snapshot, and the ratio to 2);
 *   4. a clone of the snapshot (creation time);
 *   5. a full diff export of the snapshot to a file in $TMPDIR (MiB/s of changed blocks);
 *   6. --snapshots more snapshots, one after another (at most limits.snapshotsPerVolumeMax - 1:
 *      s0 is there), with progress every 100; the mean latency of the last 10 is the latency with
 *      that many snapshots, and the mean of each 100 shows whether it grows with the count.
 * The peak RSS (VmHWM) of every metad and chunkd is sampled throughout, and the load average
 * noted at the start and the end (the machine may be shared). Prints one table; raw
 * results in bench/out/snapshots-<date>.json.
 *
 *   pnpm bench:snapshots [--size 1G] [--seconds 10] [--snapshots 1000] [--quick]
 *   (--quick: --size 128M --seconds 3 --snapshots 100)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect, type Volume } from '@basalt/client';
import { limits, Prng } from '@basalt/stdx';
import { BenchCluster } from '../repair/cluster.js';
import { RssSampler } from '../meta/rss.js';
import { log, parseSize } from '../lib/cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'packages/cli/dist/bin.js');
const MiB = 2 ** 20;
const block = 4096;

/** Random 4 KiB writes at QD8 for `seconds`: writes per second. */
async function randomWrites(v: Volume, seconds: number, prng: Prng): Promise<number> {
  const blocks = v.size / block;
  const data = Buffer.alloc(block, 0xa5);
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (performance.now() < end) {
      await v.write(prng.int(0, blocks - 1) * block, data);
      done++;
    }
  }));
  return done / seconds;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const out = await fn();
  return [out, performance.now() - start];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string' }, seconds: { type: 'string' }, snapshots: { type: 'string' }, quick: { type: 'boolean' } } });
  const quick = values.quick === true;
  const sizeBytes = parseSize(values.size ?? (quick ? '128M' : '1G'));
  const seconds = Number(values.seconds ?? (quick ? 3 : 10));
  const many = Number(values.snapshots ?? (quick ? 100 : 1000));
  if (!Number.isSafeInteger(many) || many < 10 || many >= limits.snapshotsPerVolumeMax) throw new Error(`--snapshots must be 10..${limits.snapshotsPerVolumeMax - 1} (a volume holds at most ${limits.snapshotsPerVolumeMax}, s0 included), got ${values.snapshots}`);
  const loadAtStart = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'basalt-bench-snap-'));
  const cluster = await BenchCluster.start(cli, dir, 3, undefined, undefined, log);
  const rss = new RssSampler(() => cluster.processes().filter((p) => p.name !== 'agent').map((p) => ({ name: p.name, pid: p.pid })));
  const client = connect({ metad: cluster.metaEndpoints });
  try {
    await client.createVolume('bench', { sizeBytes, replicationFactor: 3 });
    const v = await client.openVolume('bench', { writer: true });
    log(`prefill ${sizeBytes / MiB} MiB`);
    const chunk = Buffer.alloc(MiB, 0x3c);
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < sizeBytes) {
        const at = next;
        next += MiB;
        await v.write(at, chunk);
      }
    }));
    await v.flush();
    const prng = new Prng(7);
    log('random 4 KiB writes without a snapshot');
    const iopsPlain = await randomWrites(v, seconds, prng);
    const [, firstSnapMs] = await timed(() => v.snapshot('s0'));
    log('random 4 KiB writes after a fresh snapshot');
    const iopsSnap = await randomWrites(v, seconds, prng);
    await v.flush();
    const [, cloneMs] = await timed(() => client.cloneVolume('bench', 's0', 'bench-clone'));
    const file = join(dir, 'diff');
    log('full diff export of s0');
    const [exported, exportMs] = await timed(() => client.exportDiff('bench', { to: 's0', file }));
    log(`${many} more snapshots`);
    const lat: number[] = [];
    const meanPer100: number[] = [];
    for (let i = 1; i <= many; i++) {
      lat.push((await timed(() => v.snapshot(`s${i}`)))[1]);
      if (i % 100 === 0 || i === many) {
        const group = lat.slice(Math.floor((i - 1) / 100) * 100);
        meanPer100.push(mean(group));
        log(`  ${i}/${many} snapshots, mean of the last ${group.length} ${mean(group).toFixed(1)} ms`);
      }
    }
    const lastMean = mean(lat.slice(-10));
    await v.close();
    const peakRssMiB = Object.fromEntries([...rss.stop()].map(([k, kib]) => [k, Math.round(kib / 1024)]));
    const result = {
      sizeBytes, seconds, snapshots: many,
      snapshotCreateMsWith0: firstSnapMs, [`snapshotCreateMsWith${many}`]: lastMean, snapshotCreateMeanMsPer100: meanPer100, peakRssMiB,
      loadAverage1m5m15m: { start: loadAtStart, end: loadavg() },
      randWrite4kQd8Iops: iopsPlain, randWrite4kQd8IopsFreshSnapshot: iopsSnap, ratio: iopsSnap / iopsPlain,
      cloneCreateMs: cloneMs, diffExportMiBPerS: exported.bytes / MiB / (exportMs / 1000), diffBytes: exported.bytes,
    };
    process.stdout.write([
      '| measure | value |', '|---|---|',
      `| snapshot create, 0 snapshots before | ${firstSnapMs.toFixed(1)} ms |`,
      `| snapshot create, ${many} snapshots before (mean of the last 10) | ${lastMean.toFixed(1)} ms |`,
      `| random 4 KiB writes QD8, no snapshot | ${iopsPlain.toFixed(0)} IOPS |`,
      `| random 4 KiB writes QD8, fresh snapshot | ${iopsSnap.toFixed(0)} IOPS (${(100 * result.ratio).toFixed(0)} %) |`,
      `| clone create | ${cloneMs.toFixed(1)} ms |`,
      `| full diff export (${(exported.bytes / MiB).toFixed(0)} MiB) | ${result.diffExportMiBPerS.toFixed(1)} MiB/s |`,
      `| snapshot create, mean of each 100 | ${meanPer100.map((x) => x.toFixed(1)).join(', ')} ms |`,
      `| peak RSS | ${Object.entries(peakRssMiB).map(([k, mib]) => `${k} ${mib}`).join(', ')} MiB |`,
      `| load average (1 min) | ${loadAtStart[0]!.toFixed(1)} at the start, ${result.loadAverage1m5m15m.end[0]!.toFixed(1)} at the end |`,
    ].join('\n') + '\n');
    mkdirSync(join(root, 'bench/out'), { recursive: true });
    writeFileSync(join(root, 'bench/out', `snapshots-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2));
  } finally {
    rss.stop();
    client.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
