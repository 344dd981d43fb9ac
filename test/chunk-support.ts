import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiB } from '@basalt/stdx';
import { DataConnection, type ExtentRef } from '@basalt/wire';

/**
 * Helpers of the chunk-*.test.ts files: real chunkd processes (compiled JS from dist/; run
 * `pnpm exec tsc -b packages/chunk` first), temp dirs, and cleanup in reverse order.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
export const chunkdBin = path.join(root, 'packages/chunk/dist/bin/chunkd.js');

export class Cleanup {
  private readonly steps: (() => Promise<void> | void)[] = [];
  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) await step();
  }
}

export function tempDir(cleanup: Cleanup, prefix = 'basalt-chunk-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanup.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface ChunkProc {
  readonly id: string;
  readonly address: string;
  readonly metricsAddress: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** stderr so far, for failure messages. */
  log(): string;
}

export interface ChunkProcOptions {
  readonly id: string;
  readonly zone?: string;
  readonly dataDir: string;
  readonly listen?: string;
  readonly metad?: readonly string[];
  /** `--direct-writes` (chunkd's default when not given). */
  readonly directWrites?: 'members' | 'off';
}

export async function spawnChunkd(cleanup: Cleanup, o: ChunkProcOptions): Promise<ChunkProc> {
  if (!fs.existsSync(chunkdBin)) throw new Error(`${chunkdBin} is missing: build with pnpm exec tsc -b packages/chunk`);
  const args = [chunkdBin, '--id', o.id, '--zone', o.zone ?? `zone-${o.id}`, '--data-dir', o.dataDir, '--listen', o.listen ?? '127.0.0.1:0', '--metrics-port', '0', '--insecure'];
  if (o.metad !== undefined) args.push('--metad', o.metad.join(','));
  if (o.directWrites !== undefined) args.push('--direct-writes', o.directWrites);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanup.add(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const ready = await new Promise<{ address: string; metrics: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`chunkd ${o.id} not ready after 60 s:\n${stderr}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { address: string; metrics: string });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`chunkd ${o.id} exited with ${code} before ready:\n${stderr}`));
    });
  });
  return { id: o.id, address: ready.address, metricsAddress: ready.metrics, dataDir: o.dataDir, child, exited, log: () => stderr };
}

/** SIGTERM and wait for the exit code. */
export async function stopChunkd(p: ChunkProc): Promise<number | null> {
  p.child.kill('SIGTERM');
  return p.exited;
}

export async function killChunkd(p: ChunkProc): Promise<void> {
  p.child.kill('SIGKILL');
  await p.exited;
}

export async function connectData(cleanup: Cleanup, address: string): Promise<DataConnection> {
  const conn = await DataConnection.connect(address, { requestTimeoutMs: 60_000 });
  cleanup.add(() => conn.close());
  return conn;
}

export function extentRef(procs: readonly { id: string; address: string }[], o: { volumeId?: number; index?: number; epoch?: number; generation?: number; extentSizeBytes?: number } = {}): ExtentRef {
  return {
    volumeId: o.volumeId ?? 1,
    index: o.index ?? 0,
    extentSizeBytes: o.extentSizeBytes ?? 4 * MiB,
    epoch: o.epoch ?? 1,
    generation: o.generation ?? 1,
    replicas: procs.map((p) => ({ serverId: p.id, address: p.address })),
  };
}

export async function scrape(metricsAddress: string): Promise<string> {
  const res = await fetch(`http://${metricsAddress}/metrics`);
  return res.text();
}

/** Value of one sample line of a Prometheus text page, e.g. 'basalt_chunk_checksum_errors_total{where="stored"}'. */
export function sample(page: string, series: string): number | undefined {
  const line = page.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
