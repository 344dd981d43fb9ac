import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { KiB, MiB, Prng } from '@basalt/stdx';
import { DataConnection, type ExtentRef } from '@basalt/wire';
import { peakRssKiB } from '../lib/proc-stats.js';

/**
 * Load on chunkd alone, below the SDK and the agent: one DataConnection to the primary of a
 * 1- or 3-replica extent (no metad, written in full first), sequential 1 MiB and random 4 KiB
 * writes and reads, and 4 KiB writes each followed by a FLUSH.
 * For profiling (--cpu-prof) and for same-run before/after comparisons of chunkd builds:
 * --chunkd takes one or more bin/chunkd.js paths (see main() for how they take turns).
 *
 *   pnpm exec tsx bench/nbd/chunkd-load.ts [--replicas 1,3] [--seconds 6] [--chunkd A.js,B.js] [--cpu-prof DIR] [--only 'seq write']
 */
const extentBytes = 64 * MiB;

interface Workload {
  readonly name: string;
  readonly write: boolean;
  readonly blockBytes: number;
  readonly depth: number;
  readonly random: boolean;
  /** A FLUSH after every write (fio's --fsync=1). */
  readonly flush?: boolean;
}

const workloads: Workload[] = [
  { name: 'seq write 1M QD8', write: true, blockBytes: MiB, depth: 8, random: false },
  { name: 'seq read 1M QD8', write: false, blockBytes: MiB, depth: 8, random: false },
  { name: 'rand write 4K QD32', write: true, blockBytes: 4 * KiB, depth: 32, random: true },
  { name: 'rand read 4K QD32', write: false, blockBytes: 4 * KiB, depth: 32, random: true },
  { name: 'rand write 4K QD1', write: true, blockBytes: 4 * KiB, depth: 1, random: true },
  { name: 'rand read 4K QD1', write: false, blockBytes: 4 * KiB, depth: 1, random: true },
  { name: 'write 4K + flush QD1', write: true, blockBytes: 4 * KiB, depth: 1, random: true, flush: true },
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

/** Runs one workload for `seconds`; returns the operations done. */
async function run(conn: DataConnection, ext: ExtentRef, w: Workload, seconds: number, prng: Prng, data: Buffer): Promise<number> {
  const blocks = extentBytes / w.blockBytes;
  let next = 0;
  let ops = 0;
  const deadline = performance.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const block = w.random ? prng.int(0, blocks - 1) : next++ % blocks;
      if (w.write) await conn.write(ext, block * w.blockBytes, data);
      if (w.flush === true) await conn.flush(ext);
      if (!w.write) await conn.read(ext, block * w.blockBytes, w.blockBytes);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: w.depth }, worker));
  return ops;
}

/** CPU time (user + system) a process used so far, in ms (from /proc/PID/stat, 100 ticks/s). */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Arm {
  readonly bin: string;
  readonly servers: Server[];
  readonly conn: DataConnection;
  readonly ext: ExtentRef;
}

async function startArm(bin: string, replicas: number, root: string, profDir: string | undefined, volumeId: number): Promise<Arm> {
  const servers: Server[] = [];
  for (let i = 0; i < replicas; i++) servers.push(await startServer(bin, `v${volumeId}c${i}`, root, profDir));
  const conn = await DataConnection.connect(servers[0]!.address);
  const ext: ExtentRef = { volumeId, index: 0, extentSizeBytes: extentBytes, epoch: 1, generation: 1, replicas: servers.map((s) => ({ serverId: s.id, address: s.address })) };
  // Prefill, as bench:nbd does: reads then hit stored data (not holes) and writes overwrite
  // allocated blocks (no block allocation in the file system's journal on each flush).
  const fill = Buffer.alloc(MiB, 0x5a);
  for (let at = 0; at < extentBytes; at += MiB) await conn.write(ext, at, fill);
  await conn.flush(ext);
  return { bin, servers, conn, ext };
}

/**
 * Every arm (chunkd build) gets its own servers, all running at once; each workload runs in
 * 1-second slices taking turns between the arms, so the machine's changing load hits all arms
 * alike. Reports throughput and the servers' CPU time per operation (less noisy than throughput).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { replicas: { type: 'string', default: '1,3' }, seconds: { type: 'string', default: '6' }, chunkd: { type: 'string' }, 'cpu-prof': { type: 'string' }, only: { type: 'string', default: '' } } });
  const chosen = workloads.filter((w) => w.name.includes(values.only));
  const bins = (values.chunkd ?? path.resolve('packages/chunk/dist/bin/chunkd.js')).split(',');
  const seconds = Math.max(1, Math.min(600, Number(values.seconds)));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-chunkd-load-'));
  const profDir = values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']);
  const rows: string[] = [];
  try {
    for (const replicas of values.replicas.split(',').map(Number)) {
      const arms: Arm[] = [];
      for (const [i, bin] of bins.entries()) arms.push(await startArm(bin, replicas, root, profDir, i + 1));
      try {
        for (const w of chosen) {
          const data = Buffer.from(new Prng(3).fill(new Uint8Array(w.blockBytes)));
          const ops = arms.map(() => 0);
          const cpu = arms.map(() => 0);
          const prng = new Prng(7);
          for (let slice = 0; slice < seconds; slice++) {
            process.stderr.write(`${replicas}-replica ${w.name}: slice ${slice + 1}/${seconds}\r`);
            for (const [i, arm] of arms.entries()) {
              const before = arm.servers.reduce((sum, s) => sum + cpuMs(s.child.pid!), 0);
              ops[i]! += await run(arm.conn, arm.ext, w, 1, prng, data);
              cpu[i]! += arm.servers.reduce((sum, s) => sum + cpuMs(s.child.pid!), 0) - before;
            }
          }
          process.stderr.write('\n');
          for (const [i, arm] of arms.entries()) {
            const rate = w.blockBytes >= MiB ? `${((ops[i]! * w.blockBytes) / MiB / seconds).toFixed(0)} MiB/s` : `${(ops[i]! / seconds).toFixed(0)}/s`;
            rows.push(`| ${replicas} | ${w.name} | ${arm.bin.replace(/\/dist\/bin\/chunkd\.js$/, '')} | ${rate} | ${((cpu[i]! * 1000) / Math.max(1, ops[i]!)).toFixed(0)} |`);
          }
        }
        for (const arm of arms) rows.push(`| ${replicas} | peak RSS | ${arm.bin.replace(/\/dist\/bin\/chunkd\.js$/, '')} | ${arm.servers.map((s) => ((peakRssKiB(s.child.pid!) ?? 0) / 1024).toFixed(0)).join('/')} MiB | |`);
      } finally {
        for (const arm of arms) {
          arm.conn.close();
          for (const s of arm.servers) await stopServer(s);
        }
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  console.log('| replicas | workload | chunkd | throughput | server CPU µs/op (all replicas) |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

await main();
