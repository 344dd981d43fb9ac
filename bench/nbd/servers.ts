import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

/**
 * The NBD servers under test, each on 127.0.0.1: qemu-nbd and nbdkit's file plugin serving a
 * local file, and a Basalt cluster (`basalt up --detach`) whose agent serves its volumes
 * (Ceph, the replicated peer, is in ceph.ts).
 */
export interface NbdTarget {
  readonly name: string;
  readonly uri: string;
  /** The processes that serve it (for CPU seconds and peak RSS); targets of one system share them. */
  processes(): readonly { readonly name: string; readonly pid: number | undefined }[];
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** Resolves once something accepts TCP connections on port (bounded by timeoutMs). */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Starts a reference server (qemu-nbd or nbdkit file) on file, serving export "disk". */
export async function startReference(kind: 'qemu-nbd' | 'nbdkit', file: string): Promise<NbdTarget> {
  const port = await freePort();
  const child = kind === 'qemu-nbd'
    ? spawn('qemu-nbd', ['--bind=127.0.0.1', `--port=${port}`, '--export-name=disk', '--format=raw', '--persistent', '--shared=8', '--cache=writeback', '--aio=threads', '--discard=unmap', file], { stdio: 'ignore' })
    : spawn('nbdkit', ['--foreground', '--exit-with-parent', '-i', '127.0.0.1', '-p', String(port), '--exportname=disk', 'file', file], { stdio: 'ignore' });
  try {
    await waitForPort(port, 15_000);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  const uri = kind === 'qemu-nbd' ? `nbd://127.0.0.1:${port}/disk` : `nbd://127.0.0.1:${port}/`;
  return { name: kind, uri, processes: () => [{ name: kind, pid: child.pid }], stop: () => stopChild(child) };
}

interface ClusterJson {
  metad: { id: string; pid: number }[];
  chunkd: { id: string; pid: number }[];
  agent: { pid: number; nbd: string };
}

/**
 * A local Basalt cluster and a second agent with `--write-cache writeback`. Targets: a 1- and a
 * 3-replica volume through `basalt up`'s own agent (default: write-through), and a 3-replica
 * volume through the write-back agent (docs/nbd.md, "The write cache"). Each volume is used
 * through one agent only (one writer lease).
 */
/** The name of the encrypted 3-replica target (with --encrypt). */
export const encryptedTarget = 'basalt 3-replica encrypted';

/** The suffix of the targets of a cluster started with `basalt up --insecure` (--compare-insecure). */
export const insecureSuffix = ' (insecure)';

export async function startBasalt(cli: string, dir: string, sizeBytes: number, basePort: number, nbdPort: number, encrypt = false, insecure = false): Promise<{ targets: NbdTarget[]; down: () => Promise<void> }> {
  const up = [cli, 'up', '--detach', '--dir', dir, '--base-port', String(basePort), '--nbd-port', String(nbdPort), ...(insecure ? ['--insecure'] : [])];
  execFileSync(process.execPath, up, { stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
  let writeBack: ChildProcess | undefined;
  const down = async (): Promise<void> => {
    if (writeBack !== undefined) await stopChild(writeBack);
    execFileSync(process.execPath, [cli, 'down', '--dir', dir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
  };
  try {
    const clusterFile = join(dir, 'cluster.json');
    const cluster = JSON.parse(readFileSync(clusterFile, 'utf8')) as ClusterJson;
    const wbPort = await freePort();
    writeBack = spawn(process.execPath, [cli, 'agent', '--cluster', clusterFile, '--listen', `127.0.0.1:${wbPort}`, '--write-cache', 'writeback'], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitForPort(wbPort, 60_000);
    const wbPid = writeBack.pid;
    const processes = [
      { name: 'agent', pid: cluster.agent.pid },
      { name: 'write-back agent', pid: wbPid },
      ...cluster.chunkd.map((c) => ({ name: `chunkd ${c.id}`, pid: c.pid })),
      ...cluster.metad.map((m) => ({ name: `metad ${m.id}`, pid: m.pid })),
    ];
    const volume = (name: string, replicas: number, encrypted = false): string => {
      const args = [cli, 'volume', 'create', name, '--size', String(sizeBytes), '--replicas', String(replicas), '--cluster', clusterFile, ...(encrypted ? ['--encrypt'] : [])];
      execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
      return name;
    };
    const target = (name: string, address: string, vol: string): NbdTarget => ({ name: insecure ? `${name}${insecureSuffix}` : name, uri: `nbd://${address}/${vol}`, processes: () => processes, stop: () => Promise.resolve() });
    const targets = [
      target('basalt 1-replica', cluster.agent.nbd, volume('bench-r1', 1)),
      target('basalt 3-replica', cluster.agent.nbd, volume('bench-r3', 3)),
      target('basalt 3-replica writeback', `127.0.0.1:${wbPort}`, volume('bench-r3-wb', 3)),
      // The same agent; the volume's blocks are encrypted in it (AES-256-XTS, the KEK basalt up made).
      ...(encrypt ? [target(encryptedTarget, cluster.agent.nbd, volume('bench-r3-enc', 3, true))] : []),
    ];
    return { targets, down };
  } catch (err) {
    await down();
    throw err;
  }
}
