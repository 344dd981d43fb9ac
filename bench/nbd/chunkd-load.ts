import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { KiB, MiB, Prng } from '@basalt/stdx';
import { DataConnection, type ExtentRef } from '@basalt/wire';
import { peakRssKiB } from '../meta/rss.js';

/**
 * Load on chunkd alone, below the SDK and the agent: one DataConnection to the primary of a
 * 1- or 3-replica extent (no metad), sequential 1 MiB and random 4 KiB writes and reads.
 * For profiling (--cpu-prof) and for same-run before/after comparisons of chunkd builds:
 * --chunkd takes one or more bin/chunkd.js paths, run one after the other, round-robin.
 *
 *   pnpm exec tsx bench/nbd/chunkd-load.ts [--replicas 1,3] [--seconds 5] [--chunkd A.js,B.js] [--rounds 2] [--cpu-prof DIR]
 */
const extentBytes = 64 * MiB;

interface Workload {
  readonly name: string;
  readonly write: boolean;
  readonly blockBytes: number;
  readonly depth: number;
  readonly random: boolean;
}

const workloads: Workload[] = [
  { name: 'seq write 1M QD8', write: true, blockBytes: MiB, depth: 8, random: false },
  { name: 'seq read 1M QD8', write: false, blockBytes: MiB, depth: 8, random: false },
  { name: 'rand write 4K QD32', write: true, blockBytes: 4 * KiB, depth: 32, random: true },
  { name: 'rand read 4K QD32', write: false, blockBytes: 4 * KiB, depth: 32, random: true },
  { name: 'rand write 4K QD1', write: true, blockBytes: 4 * KiB, depth: 1, random: true },
];

interface Server {
  readonly child: ChildProcess;
  readonly id: string;
  readonly address: string;
  readonly dir: string;
}

async function startServer(bin: string, id: string, root: string, profDir: string | undefined): Promise<Server> {
  const dir = fs.mkdtempSync(path.join(root, `${id}-`));
  const nodeArgs = profDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `${id}-${path.basename(path.dirname(path.dirname(path.dirname(bin))))}.cpuprofile`];
  const child = spawn(process.execPath, [...nodeArgs, bin, '--id', id, '--zone', id, '--data-dir', dir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  for await (const line of lines) {
    const ev = JSON.parse(line) as { event?: string; address?: string };
    if (ev.event === 'ready' && ev.address !== undefined) {
      clearTimeout(timer);
      return { child, id, address: ev.address, dir };
    }
  }
  throw new Error(`chunkd ${id} exited before it was ready`);
}

async function stopServer(s: Server): Promise<void> {
  const exited = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
  fs.rmSync(s.dir, { recursive: true, force: true });
}

/** Runs one workload for `seconds`; returns MiB/s and IOPS. */
async function run(conn: DataConnection, ext: ExtentRef, w: Workload, seconds: number, prng: Prng): Promise<{ mibs: number; iops: number }> {
  const data = Buffer.from(prng.fill(new Uint8Array(w.blockBytes)));
  const blocks = extentBytes / w.blockBytes;
  let next = 0;
  let ops = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const block = w.random ? prng.int(0, blocks - 1) : next++ % blocks;
      if (w.write) await conn.write(ext, block * w.blockBytes, data);
      else await conn.read(ext, block * w.blockBytes, w.blockBytes);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: w.depth }, worker));
  const s = (performance.now() - started) / 1000;
  return { mibs: (ops * w.blockBytes) / MiB / s, iops: ops / s };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { replicas: { type: 'string', default: '1,3' }, seconds: { type: 'string', default: '5' }, chunkd: { type: 'string' }, rounds: { type: 'string', default: '1' }, 'cpu-prof': { type: 'string' } } });
  const bins = (values.chunkd ?? path.resolve('packages/chunk/dist/bin/chunkd.js')).split(',');
  const seconds = Number(values.seconds);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-chunkd-load-'));
  const profDir = values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']);
  const rows: string[] = [];
  try {
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const replicas of values.replicas.split(',').map(Number)) {
        for (const bin of bins) {
          const servers: Server[] = [];
          for (let i = 0; i < replicas; i++) servers.push(await startServer(bin, `c${i}`, root, profDir));
          const conn = await DataConnection.connect(servers[0]!.address);
          const ext: ExtentRef = { volumeId: 1, index: 0, extentSizeBytes: extentBytes, epoch: 1, generation: 1, replicas: servers.map((s) => ({ serverId: s.id, address: s.address })) };
          const prng = new Prng(7);
          const cells: string[] = [];
          for (const w of workloads) {
            process.stderr.write(`round ${round + 1} ${replicas}-replica ${bin}: ${w.name}...\n`);
            const r = await run(conn, ext, w, seconds, prng);
            cells.push(w.blockBytes >= MiB ? `${r.mibs.toFixed(0)} MiB/s` : `${r.iops.toFixed(0)}/s`);
          }
          const rss = servers.map((s) => ((peakRssKiB(s.child.pid!) ?? 0) / 1024).toFixed(0)).join('/');
          conn.close();
          for (const s of servers) await stopServer(s);
          rows.push(`| ${round + 1} | ${replicas} | ${bin.replace(/\/dist\/bin\/chunkd\.js$/, '')} | ${cells.join(' | ')} | ${rss} MiB |`);
        }
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  console.log(`| round | replicas | chunkd | ${workloads.map((w) => w.name).join(' | ')} | peak RSS |`);
  console.log(`|---|---|---|${workloads.map(() => '---|').join('')}---|`);
  for (const r of rows) console.log(r);
}

await main();
