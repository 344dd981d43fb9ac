import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { connect, type BasaltClient } from '@basalt/client';
import { generateSigningKey, insecureWarning, signingKeyPem, TransportSecurity } from '@basalt/wire';
import type { ClusterFile, ProcessEntry } from './cluster-file.js';
import { metaEndpointsOf, writeClusterFile } from './cluster-file.js';
import { localIdentity, tlsArgs, tlsEnv } from './local-certs.js';
import { accepts, spawnBasalt, tail, waitFor } from './processes.js';

/** One readiness probe of the agent's NBD port (waitFor repeats it). */
const agentProbeTimeoutMs = 1000;

/**
 * Runs a local cluster as child processes of this one: starts them, waits until each is
 * ready, keeps DIR/cluster.json current (state and pids) and stops them all on request.
 */
export class LocalCluster {
  private readonly children = new Map<string, { entry: ProcessEntry; child: ChildProcess; exited: Promise<void> }>();
  private stopping = false;
  private readonly security: TransportSecurity;

  private constructor(private readonly file: ClusterFile, private readonly log: (line: string) => void) {
    this.security = file.tls === undefined ? TransportSecurity.insecure() : TransportSecurity.fromFiles(file.tls);
  }

  /** Starts every process and resolves once all are ready; on failure stops what started and throws. */
  static async start(file: ClusterFile, log: (line: string) => void, readyTimeoutMs: number): Promise<LocalCluster> {
    if (file.tls === undefined) log(insecureWarning);
    const cluster = new LocalCluster(file, log);
    file.supervisorPid = process.pid;
    file.state = 'starting';
    writeClusterFile(file);
    try {
      await cluster.startAll(readyTimeoutMs);
    } catch (err) {
      await cluster.stop();
      file.state = 'failed';
      file.error = (err as Error).message;
      writeClusterFile(file);
      throw err;
    }
    file.state = 'running';
    writeClusterFile(file);
    return cluster;
  }

  private async startAll(readyTimeoutMs: number): Promise<void> {
    const { metad, chunkd, agent } = this.file;
    const peers = metad.map((m) => `${m.id}=${m.address}`).join(',');
    const endpoints = metaEndpointsOf(this.file).join(',');
    const signingKey = ensureSigningKey(this.file.dir);
    for (const m of metad) {
      const webConsole = m.console === undefined ? [] : ['--console-port', port(m.console), '--console-scrape', agent.metrics];
      this.spawn(m, ['meta', 'start', '--id', m.id, '--listen', m.address, '--peers', peers, '--data-dir', m.dataDir, '--metrics-port', port(m.metrics), '--signing-key', signingKey, ...webConsole, ...tlsArgs(this.file.tls, localIdentity.metad(m.id))]);
    }
    await this.ready('metad elects a leader', () => this.metaReady(), readyTimeoutMs, metad);
    const chunksStartedMs = Date.now();
    for (const c of chunkd) {
      this.spawn(c, ['chunk', 'start', '--id', c.id, '--zone', c.zone, '--data-dir', c.dataDir, '--listen', c.address, '--metad', endpoints, '--metrics-port', port(c.metrics), '--require-capabilities', ...tlsArgs(this.file.tls, localIdentity.chunkd(c.id))]);
    }
    await this.ready('chunk servers register', () => this.chunksReady(chunksStartedMs), readyTimeoutMs, chunkd);
    this.spawn(agent, ['agent', '--metad', endpoints, '--listen', agent.nbd, '--metrics-port', port(agent.metrics), ...(this.file.kekFile !== undefined ? ['--kek-file', this.file.kekFile] : [])], tlsEnv(this.file.tls, localIdentity.agent));
    await this.ready('the agent listens', () => accepts(agent.nbd, agentProbeTimeoutMs), readyTimeoutMs, [agent]);
  }

  private spawn(entry: ProcessEntry, args: string[], env: Record<string, string> = {}): void {
    const child = spawnBasalt(args, entry.log, { env });
    entry.pid = child.pid ?? 0;
    const exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
      entry.pid = 0;
      if (!this.stopping) {
        this.log(`${entry.id} exited (${signal ?? `code ${code}`}); its log: ${entry.log}`);
        writeClusterFile(this.file);
      }
      resolve();
    }));
    this.children.set(entry.id, { entry, child, exited });
    writeClusterFile(this.file);
  }

  private async ready(what: string, check: () => Promise<boolean>, timeoutMs: number, entries: readonly ProcessEntry[]): Promise<void> {
    const ok = await waitFor(async () => {
      const dead = entries.find((e) => e.pid === 0);
      if (dead) throw new BasaltError(ErrorCode.Unavailable, `${dead.id} exited while starting; last lines of ${dead.log}:\n${tail(dead.log)}`);
      return check();
    }, timeoutMs);
    if (!ok) {
      const logs = entries.map((e) => `--- ${e.log}\n${tail(e.log)}`).join('\n');
      throw new BasaltError(ErrorCode.Timeout, `timed out after ${timeoutMs} ms waiting until ${what}\n${logs}`);
    }
    this.log(`ready: ${what}`);
  }

  private async metaReady(): Promise<boolean> {
    return this.withClient(async (client) => {
      const status = await client.memberStatus();
      return status.leaderId !== '';
    });
  }

  /** Every chunk server is up and was heard from since `sinceMs` (metad remembers servers across restarts). */
  private async chunksReady(sinceMs: number): Promise<boolean> {
    return this.withClient(async (client) => {
      const servers = await client.listServers();
      return this.file.chunkd.every((c) => servers.some((s) => s.id === c.id && s.state === 'up' && s.lastHeartbeatMs >= sinceMs));
    });
  }

  private async withClient(fn: (client: BasaltClient) => Promise<boolean>): Promise<boolean> {
    const client = connect({ metad: metaEndpointsOf(this.file), metaTimeoutMs: 1000, security: this.security });
    try {
      return await fn(client);
    } catch {
      return false;
    } finally {
      client.close();
    }
  }

  /** Resolves when any child exits on its own, so a supervisor can report it. */
  get anyExited(): Promise<string> {
    return Promise.race([...this.children.values()].map(({ entry, exited }) => exited.then(() => entry.id)));
  }

  /** SIGTERM to the agent, then chunk servers, then metad; SIGKILL what is still up after 10 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    const order = [this.file.agent.id, ...this.file.chunkd.map((c) => c.id), ...this.file.metad.map((m) => m.id)];
    for (const id of order) {
      const c = this.children.get(id);
      if (c === undefined || c.entry.pid === 0) continue;
      c.child.kill('SIGTERM');
      const timer = setTimeout(() => c.child.kill('SIGKILL'), 10_000);
      await c.exited;
      clearTimeout(timer);
    }
    this.file.state = 'stopped';
    writeClusterFile(this.file);
  }
}

function port(hostPort: string): string {
  return hostPort.slice(hostPort.lastIndexOf(':') + 1);
}

/**
 * The cluster's capability signing key (docs/data-path.md, "Capabilities"): one Ed25519 key in the
 * cluster folder, made at the first start (readable by the owner only) and given to every metad.
 */
function ensureSigningKey(dir: string): string {
  const path = join(dir, 'signing-key.pem');
  if (!existsSync(path)) writeFileSync(path, signingKeyPem(generateSigningKey()), { mode: 0o600, flag: 'wx' });
  return path;
}
