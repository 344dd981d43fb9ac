/**
 * A whole Basalt cluster of real processes on 127.0.0.1 for tests: 3 metad members (MetaCluster),
 * N chunk servers in zones zone-a, zone-b, ... and optionally the NBD agent, each its own process
 * started through a ProcessScope, with fixed ports and data dirs so any one of them can be
 * killed (by pid) and restarted where it was.
 *
 *   const scope = new ProcessScope();
 *   afterAll(() => scope.cleanup());                  // stops every process, removes temp dirs
 *   const cluster = await BasaltCluster.start(scope, { agent: true });
 *   const client = cluster.client();                  // @basalt/client, closed by cluster.close()
 *   await cluster.chunk(1).kill();                    // kill -9, waits for the exit
 *   await cluster.chunk(1).start();                   // same id, address and data dir
 *   await cluster.restartAll();                       // SIGTERM everything, start everything again
 *   cluster.chunk(0).dataDir; cluster.agentAddress;   // extent files, nbd://host:port
 *
 * Needs the compiled CLI and chunkd: run `pnpm run build` (or `pnpm exec tsc -b packages/cli`).
 * For `basalt up` itself (cluster.json, --detach, down) use the CLI: test/e2e-cli.test.ts.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type BasaltClient, type ConnectOptions } from '@basalt/client';
import { generateSigningKey, MetaClient, signingKeyPem } from '@basalt/wire';
import { MetaCluster, type MetaClusterOptions } from './meta-cluster.js';
import { freePorts, repoRoot, waitFor, waitForPort } from './process.js';
import type { ProcessScope, Signal, TestProcess } from './process.js';

/** The chunk server's entry point (same flags as `basalt chunk start`). */
export const chunkdBin = join(repoRoot, 'packages/chunk/dist/bin/chunkd.js');

export interface ClusterOptions {
  /** Chunk servers, one zone each (default 3). */
  chunkServers?: number;
  /** Start the NBD agent too (default false). */
  agent?: boolean;
  /** More agent flags, e.g. ['--kek-file', path]. */
  agentArgs?: readonly string[];
  meta?: MetaClusterOptions;
  /** Data dir of chunk server i, e.g. a small tmpfs for disk-full tests (default: a temp dir). */
  chunkDataDir?: (i: number) => string;
  /** More chunkd flags, e.g. ['--reclaim-interval-ms', '300']. */
  chunkArgs?: readonly string[];
  /**
   * Capabilities (default on, as `basalt up` runs them; docs/data-path.md, "Capabilities"): metad
   * signs with a new key (`signingKeyFile`), chunk servers run with --require-capabilities. A raw
   * DataConnection then needs a capability from GetExtentMap (test/security-capabilities.test.ts).
   */
  capabilities?: boolean;
}

/** Where a chunk server runs: its IP and, for a network namespace (netns.ts), the command wrapper. */
export interface ChunkHost {
  readonly ip: string;
  readonly wrap?: (command: string, args: readonly string[]) => [string, string[]];
}

/** One chunk server: a fixed identity, address and data dir; its process comes and goes. */
export class ChunkNode {
  process: TestProcess | undefined;

  constructor(
    private readonly scope: ProcessScope,
    readonly id: string,
    readonly zone: string,
    readonly port: number,
    readonly metricsPort: number,
    readonly dataDir: string,
    private readonly metad: readonly string[],
    private readonly extraArgs: readonly string[] = [],
    readonly host: ChunkHost = { ip: '127.0.0.1' },
  ) {}

  get address(): string {
    return `${this.host.ip}:${this.port}`;
  }

  get metricsAddress(): string {
    return `${this.host.ip}:${this.metricsPort}`;
  }

  get pid(): number | undefined {
    return this.process !== undefined && !this.process.hasExited ? this.process.pid : undefined;
  }

  /** Starts the process (again) and waits until it serves. */
  async start(): Promise<void> {
    if (!existsSync(chunkdBin)) throw new Error(`${chunkdBin} is missing: run "pnpm run build" first`);
    const before = this.process?.log().length ?? 0;
    const args = [
      chunkdBin, '--id', this.id, '--zone', this.zone, '--data-dir', this.dataDir, '--listen', this.address,
      '--metad', this.metad.join(','), '--metrics-port', String(this.metricsPort), '--insecure', ...this.extraArgs,
    ];
    const [command, argv] = this.host.wrap?.(process.execPath, args) ?? [process.execPath, args];
    this.process = this.scope.spawn(this.id, command, argv);
    const p = this.process;
    // The log is appended across restarts: wait for a ready line written by this process.
    await waitFor(`${this.id} to be ready`, () => p.log().slice(before).includes('"event":"ready"'), { process: p, timeoutMs: 90_000 });
  }

  /** Sends a signal by pid; SIGKILL and SIGTERM wait for the exit. */
  async signal(sig: Signal): Promise<void> {
    const p = this.process;
    if (p === undefined || p.hasExited) return;
    p.signal(sig);
    if (sig === 'SIGKILL' || sig === 'SIGTERM') await p.exited;
  }

  /** kill -9. */
  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  /** Clean shutdown. */
  stop(): Promise<void> {
    return this.signal('SIGTERM');
  }
}

export class BasaltCluster {
  readonly chunks: ChunkNode[] = [];
  agent: TestProcess | undefined;
  agentPort = 0;
  private agentArgs: readonly string[] = [];
  private readonly clients: BasaltClient[] = [];

  private constructor(
    private readonly scope: ProcessScope,
    readonly meta: MetaCluster,
    /** The PEM file metad signs capabilities with (ClusterOptions.capabilities); undefined: off. */
    readonly signingKeyFile: string | undefined,
  ) {}

  /** Starts metad, waits for a leader, then the chunk servers (registered and up), then the agent. */
  static async start(scope: ProcessScope, options: ClusterOptions = {}): Promise<BasaltCluster> {
    const signingKeyFile = options.capabilities !== false ? join(scope.tempDir('basalt-key'), 'signing-key.pem') : undefined;
    if (signingKeyFile !== undefined) writeFileSync(signingKeyFile, signingKeyPem(generateSigningKey()), { mode: 0o600 });
    const keyFlags = signingKeyFile === undefined ? [] : ['--signing-key', signingKeyFile];
    const meta = await MetaCluster.start(scope, { ...options.meta, flags: [...(options.meta?.flags ?? []), ...keyFlags] });
    await meta.waitForLeader();
    const cluster = new BasaltCluster(scope, meta, signingKeyFile);
    const count = options.chunkServers ?? 3;
    const ports = await freePorts(count * 2 + 1);
    const root = scope.tempDir('basalt-chunks');
    for (let i = 0; i < count; i++) {
      const id = `c${i + 1}`;
      const dataDir = options.chunkDataDir?.(i) ?? join(root, id);
      const chunkArgs = [...(options.chunkArgs ?? []), ...(signingKeyFile === undefined ? [] : ['--require-capabilities'])];
      cluster.chunks.push(new ChunkNode(scope, id, `zone-${String.fromCharCode(97 + i)}`, ports[2 * i]!, ports[2 * i + 1]!, dataDir, meta.endpoints, chunkArgs));
    }
    await Promise.all(cluster.chunks.map((c) => c.start()));
    await cluster.waitForServers('up');
    cluster.agentPort = ports[count * 2]!;
    cluster.agentArgs = options.agentArgs ?? [];
    if (options.agent === true) await cluster.startAgent();
    return cluster;
  }

  get metaEndpoints(): string[] {
    return this.meta.endpoints;
  }

  /** host:port of the NBD agent. */
  get agentAddress(): string {
    return `127.0.0.1:${this.agentPort}`;
  }

  chunk(i: number): ChunkNode {
    const c = this.chunks[i];
    if (c === undefined) throw new Error(`no chunk server ${i}`);
    return c;
  }

  /** The chunk server with this id. */
  chunkById(id: string): ChunkNode {
    const c = this.chunks.find((n) => n.id === id);
    if (c === undefined) throw new Error(`no chunk server ${id}`);
    return c;
  }

  /** An SDK client of this cluster, closed by close(). */
  client(options: Partial<ConnectOptions> = {}): BasaltClient {
    const c = connect({ metad: this.metaEndpoints, ...options });
    this.clients.push(c);
    return c;
  }

  /**
   * Waits until metad lists every chunk server (or those given) in `state`; with `sinceMs`, also
   * heard from since then (metad remembers servers as up across its own restarts).
   */
  async waitForServers(state: 'up' | 'down', options: { ids?: readonly string[]; sinceMs?: number; timeoutMs?: number } = {}): Promise<void> {
    const ids = options.ids ?? this.chunks.map((c) => c.id);
    const meta = new MetaClient({ endpoints: this.metaEndpoints, callTimeoutMs: 3_000 });
    try {
      await waitFor(`chunk servers ${ids.join(',')} to be ${state}`, async () => {
        const { servers } = await meta.call('listServers', {});
        return ids.every((id) => servers.some((s) => s.id === id && s.state === state && Number(s.lastHeartbeatMs) >= (options.sinceMs ?? 0)));
      }, { timeoutMs: options.timeoutMs ?? 90_000, intervalMs: 250 });
    } finally {
      meta.close();
    }
  }

  async startAgent(): Promise<void> {
    this.agent = this.scope.spawnCli('agent', ['agent', '--metad', this.metaEndpoints.join(','), '--listen', this.agentAddress, '--insecure', ...this.agentArgs]);
    await waitForPort(this.agentPort, { process: this.agent, timeoutMs: 60_000 });
  }

  /**
   * SIGTERM to every process (agent, chunk servers, metad), then starts them all again from
   * their data dirs and waits until the cluster serves. Clients made before keep working:
   * they reconnect.
   */
  async restartAll(): Promise<void> {
    const hadAgent = this.agent !== undefined && !this.agent.hasExited;
    if (hadAgent) {
      this.agent!.signal('SIGTERM');
      await this.agent!.exited;
    }
    await Promise.all(this.chunks.map((c) => c.stop()));
    await Promise.all(this.meta.members.map((_, i) => this.meta.signal(i, 'SIGTERM')));
    for (let i = 0; i < this.meta.members.length; i++) this.meta.start(i);
    await Promise.all(this.meta.members.map((m) => waitForPort(m.port, { process: m.process!, timeoutMs: 60_000 })));
    await this.meta.waitForLeader();
    const sinceMs = Date.now();
    await Promise.all(this.chunks.map((c) => c.start()));
    await this.waitForServers('up', { sinceMs });
    if (hadAgent) await this.startAgent();
  }

  /** Closes clients; the scope's cleanup() stops the processes. */
  close(): void {
    for (const c of this.clients.splice(0)) c.close();
    this.meta.close();
  }
}
