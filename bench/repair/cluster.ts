import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { MetaClient } from '@basalt/wire';
import { freePort } from '../nbd/servers.js';

/**
 * A cluster for the repair benchmark, started process by process (not `basalt up`): 3 metad, N
 * chunk servers each in its own zone (so any server can take any extent's replica), one NBD
 * agent, all on 127.0.0.1 with data under one folder. The benchmark kills and restarts chunk
 * servers by id, which a `basalt up` supervisor does not do, and passes --repair-bandwidth.
 * With cpuProfDir, every chunk server runs under `node --cpu-prof` (a profile per exit).
 */
export interface Proc {
  readonly name: string;
  readonly args: readonly string[];
  child: ChildProcess | undefined;
  /** Pid of the running incarnation; undefined while stopped. */
  pid: number | undefined;
}

const readyTimeoutMs = 120_000;

export class BenchCluster {
  readonly metaEndpoints: string[];
  readonly chunkMetrics = new Map<string, string>();
  nbd = '';
  /** The agent's /metrics (host:port): the SDK's basalt_client_* series among them. */
  agentMetrics = '';
  private readonly procs = new Map<string, Proc>();

  private constructor(private readonly cli: string, private readonly dir: string, metaPorts: readonly number[], private readonly cpuProfDir: string | undefined) {
    this.metaEndpoints = metaPorts.map((p) => `127.0.0.1:${p}`);
  }

  static async start(cli: string, dir: string, chunkServers: number, repairBandwidth: number | undefined, cpuProfDir: string | undefined, log: (line: string) => void): Promise<BenchCluster> {
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const metaPorts = [await freePort(), await freePort(), await freePort()];
    const c = new BenchCluster(cli, dir, metaPorts, cpuProfDir);
    try {
      await c.startAll(chunkServers, repairBandwidth, log);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private async startAll(chunkServers: number, repairBandwidth: number | undefined, log: (line: string) => void): Promise<void> {
    const peers = this.metaEndpoints.map((a, i) => `m${i + 1}=${a}`).join(',');
    for (const [i, address] of this.metaEndpoints.entries()) {
      const id = `m${i + 1}`;
      this.add(id, ['meta', 'start', '--id', id, '--listen', address, '--peers', peers, '--data-dir', join(this.dir, id), '--metrics-port', String(await freePort()), '--insecure']);
    }
    await this.until('metad elects a leader', async () => (await this.meta((m) => m.call('status', {}, { timeoutMs: 1000 }))).leaderId !== '');
    const endpoints = this.metaEndpoints.join(',');
    const budget = repairBandwidth === undefined ? [] : ['--repair-bandwidth', String(repairBandwidth)];
    for (let i = 1; i <= chunkServers; i++) {
      const metrics = await freePort();
      this.chunkMetrics.set(`c${i}`, `127.0.0.1:${metrics}`);
      this.add(`c${i}`, ['chunk', 'start', '--id', `c${i}`, '--zone', `zone-${i}`, '--data-dir', join(this.dir, `c${i}`), '--listen', `127.0.0.1:${await freePort()}`, '--metad', endpoints, '--metrics-port', String(metrics), '--insecure', ...budget]);
    }
    await this.serversUp([...this.chunkMetrics.keys()]);
    this.nbd = `127.0.0.1:${await freePort()}`;
    const agentMetricsPort = await freePort();
    this.agentMetrics = `127.0.0.1:${agentMetricsPort}`;
    this.add('agent', ['agent', '--metad', endpoints, '--listen', this.nbd, '--metrics-port', String(agentMetricsPort)]);
    await this.until('the agent listens', () => accepts(this.nbd));
    log(`cluster up in ${this.dir}: 3 metad, ${chunkServers} chunkd (--repair-bandwidth ${repairBandwidth ?? 'default'}), agent nbd://${this.nbd}`);
  }

  /** Every process that ran, for RSS and CPU sampling. */
  processes(): readonly Proc[] {
    return [...this.procs.values()];
  }

  /** Resolves once metad reports every one of ids up. */
  async serversUp(ids: readonly string[]): Promise<void> {
    await this.until(`chunk servers ${ids.join(', ')} are up`, async () => {
      const { servers } = await this.meta((m) => m.call('listServers', {}, { timeoutMs: 1000 }));
      return ids.every((id) => servers.some((s) => s.id === id && s.state === 'up'));
    });
  }

  kill(name: string): void {
    const p = this.procs.get(name)!;
    p.child?.kill('SIGKILL');
    p.pid = undefined;
  }

  /** Starts a killed process again with its original arguments (same data folder). */
  restart(name: string): void {
    const p = this.procs.get(name)!;
    this.launch(p);
  }

  async meta<T>(fn: (m: MetaClient) => Promise<T>): Promise<T> {
    const m = new MetaClient({ endpoints: this.metaEndpoints, callTimeoutMs: 5000 });
    try {
      return await fn(m);
    } finally {
      m.close();
    }
  }

  /** SIGTERM to the agent, chunk servers, metad in that order; SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const order = [...this.procs.values()].reverse();
    for (const p of order) await stopProc(p);
  }

  /** Synchronous last resort (process exit): SIGKILL whatever still runs. */
  killAll(): void {
    for (const p of this.procs.values()) p.child?.kill('SIGKILL');
  }

  private add(name: string, args: string[]): void {
    const p: Proc = { name, args, child: undefined, pid: undefined };
    this.procs.set(name, p);
    this.launch(p);
  }

  private launch(p: Proc): void {
    const fd = openSync(join(this.dir, 'logs', `${p.name}.log`), 'a');
    const prof = this.cpuProfDir !== undefined && p.args[0] === 'chunk' ? ['--cpu-prof', '--cpu-prof-dir', this.cpuProfDir] : [];
    const child = spawn(process.execPath, [...prof, this.cli, ...p.args], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    p.child = child;
    p.pid = child.pid;
    child.once('exit', () => {
      if (p.child === child) p.pid = undefined;
    });
  }

  private async until(what: string, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      const dead = [...this.procs.values()].find((p) => p.child !== undefined && p.child.exitCode !== null);
      if (dead !== undefined) throw new Error(`${dead.name} exited while waiting until ${what}; see ${join(this.dir, 'logs', `${dead.name}.log`)}:\n${tailOf(join(this.dir, 'logs', `${dead.name}.log`))}`);
      if (await check().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out after ${readyTimeoutMs} ms waiting until ${what}`);
  }
}

async function stopProc(p: Proc): Promise<void> {
  const child = p.child;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function accepts(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const s = connect({ host: host!, port: Number(port) }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function tailOf(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

/** Sum of a counter over the servers' /metrics pages, for the samples whose labels include all of `labels`. */
export async function counterSum(addresses: readonly string[], name: string, labels: Readonly<Record<string, string>>): Promise<number> {
  let sum = 0;
  for (const a of addresses) {
    const text = await fetch(`http://${a}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text()).catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}
