/**
 * `pnpm bench:sdk`: the client SDK against a local cluster (3 metad, 3 chunkd, started with
 * `basalt up --detach` in a temp dir) on a 1-replica and a 3-replica volume, side by side with a
 * local file on the same disk, workload by workload. Prints one table, the peak RSS of every
 * process, and writes the raw results to bench/out/sdk-<date>.json.
 *
 *   pnpm bench:sdk [--seconds 3] [--size-mib 128] [--encrypt]
 *
 * --encrypt adds an encrypted 3-replica volume (AES-256-XTS in the SDK, its key wrapped by the KEK
 * `basalt up` made) beside the plaintext ones: the same rows, side by side.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect, FileKeyProvider } from '@basalt/client';
import { MiB } from '@basalt/stdx';
import { freePorts } from '../../test/lib/process.js';
import { peakRssKiB } from '../lib/proc-stats.js';
import { fileTarget, volumeTarget, type Target } from './targets.js';
import { run, workloads, type WorkloadResult } from './workload.js';
import { log } from '../lib/cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'packages/cli/dist/bin.js');
const opsMax = 200_000;

interface ClusterJson {
  supervisorPid: number;
  metad: { id: string; address: string; pid: number }[];
  chunkd: { id: string; pid: number }[];
  agent: { pid: number };
  kekFile: string;
}

/** Writes every block once, 32 in flight, so reads hit stored data and not holes. */
async function prefill(t: Target): Promise<void> {
  const data = Buffer.alloc(MiB, 0x5a);
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < t.sizeBytes) {
      const offset = next;
      next += MiB;
      await t.write(offset, data);
    }
  }));
}

function table(results: readonly WorkloadResult[], targets: readonly string[]): string {
  const head = ['workload', ...targets.flatMap((t) => [`${t} MB/s`, 'IOPS', 'p50 ms', 'p99 ms', 'p99.9 ms']), ...targets.slice(0, -1).map((t) => `${t}/file`)];
  const rows = [...new Set(results.map((r) => r.workload))].map((w) => {
    const by = targets.map((t) => results.find((r) => r.workload === w && r.target === t)!);
    const file = by[by.length - 1]!;
    return [w, ...by.flatMap((r) => [r.mbPerS.toFixed(1), r.iops.toFixed(0), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2), r.p999Ms.toFixed(2)]),
      ...by.slice(0, -1).map((r) => (r.iops / file.iops).toFixed(2))];
  });
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, 'size-mib': { type: 'string', default: '128' }, encrypt: { type: 'boolean', default: false } } });
  const seconds = Number(values.seconds);
  const sizeBytes = Number(values['size-mib']) * MiB;
  const dir = mkdtempSync(join(tmpdir(), 'basalt-bench-sdk-'));
  const [probePort, nbdPort] = await freePorts(2);
  const basePort = 20_000 + (probePort! % 30_000);
  log(`starting a local cluster in ${dir} (ports from ${basePort})`);
  execFileSync(process.execPath, [cli, 'up', '--detach', '--dir', dir, '--base-port', String(basePort), '--nbd-port', String(nbdPort!)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const cluster = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterJson;
  const client = connect({ metad: cluster.metad.map((m) => m.address), keyProvider: new FileKeyProvider(cluster.kekFile) });
  try {
    const targets: Target[] = [];
    for (const replicas of [1, 3]) {
      const name = `r${replicas}`;
      await client.createVolume(name, { sizeBytes, replicationFactor: replicas });
      targets.push(volumeTarget(`${replicas}-replica`, await client.openVolume(name, { writer: true })));
    }
    if (values.encrypt) {
      await client.createVolume('r3-enc', { sizeBytes, replicationFactor: 3, encrypt: true });
      targets.push(volumeTarget('3-replica-enc', await client.openVolume('r3-enc', { writer: true })));
    }
    targets.push(fileTarget(join(dir, 'local.img'), sizeBytes));
    for (const t of targets) {
      log(`prefilling ${t.name} (${sizeBytes / MiB} MiB)`);
      await prefill(t);
    }
    const results: WorkloadResult[] = [];
    for (const [i, w] of workloads.entries()) {
      for (const t of targets) {
        const r = await run(t, w, seconds, opsMax, i + 1);
        log(`${w.name.padEnd(22)} ${t.name.padEnd(10)} ${r.mbPerS.toFixed(1)} MB/s ${r.iops.toFixed(0)} IOPS p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms`);
        results.push(r);
      }
    }
    const rss = [
      ['bench (SDK client)', process.pid], ...cluster.metad.map((m) => [`metad ${m.id}`, m.pid]), ...cluster.chunkd.map((c) => [`chunkd ${c.id}`, c.pid]),
    ] as [string, number][];
    const peaks = rss.map(([name, pid]) => ({ name, peakRssMiB: Math.round((peakRssKiB(pid) ?? 0) / 1024) }));
    for (const t of targets) await t.close();
    const names = targets.map((t) => t.name);
    process.stdout.write(`\nSDK benchmark: ${seconds} s per cell, ${sizeBytes / MiB} MiB volumes/file, ${new Date().toISOString()}\n\n${table(results, names)}\n\n`);
    process.stdout.write(`| process | peak RSS (VmHWM) MiB |\n| --- | --- |\n${peaks.map((p) => `| ${p.name} | ${p.peakRssMiB} |`).join('\n')}\n`);
    mkdirSync(join(root, 'bench/out'), { recursive: true });
    writeFileSync(join(root, `bench/out/sdk-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ seconds, sizeBytes, results, peaks }, null, 2));
  } finally {
    client.close();
    execFileSync(process.execPath, [cli, 'down', '--dir', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
