/**
 * A metad cluster whose members are hosts of their own: member i runs `basalt meta start` inside
 * network namespace i (netns.ts) and listens on that host's address, so a test can cut links
 * between members with iptables while the test process (a client, on the root link) still reaches
 * every member. Status, leader and convergence queries reuse MetaCluster (meta-cluster.ts), whose
 * member list this class fills with the namespaced members.
 */
import { join } from 'node:path';
import { MetaCluster, type MetaMember } from './meta-cluster.js';
import type { NemesisCluster } from './nemesis.js';
import { createNetwork, type NetnsHost, type NetnsNetwork } from './netns.js';
import { cliBin, stopProcess, waitForPort, type ProcessScope, type TestProcess } from './process.js';

const metaPort = 7100;
const metricsPort = 9100;

export interface NetnsMetaClusterOptions {
  size?: number;
  /** Hosts of the network, at least `size`: members run on the first `size`, the rest are the test's (e.g. chunk servers). */
  hosts?: number;
  /** Defaults as MetaCluster's: 50 ms ticks, elections after 10 to 20 ticks. */
  tickMs?: number;
  electionTicks?: number;
  /** More `basalt meta start` flags for every member. */
  flags?: readonly string[];
}

export class NetnsMetaCluster implements NemesisCluster {
  /** Every member process started, restarts included; destroy() stops them before the namespaces go. */
  private readonly started: TestProcess[] = [];

  private constructor(
    readonly meta: MetaCluster,
    readonly network: NetnsNetwork,
    private readonly scope: ProcessScope,
    private readonly flags: readonly string[],
  ) {}

  /** Builds the network, starts every member and waits until each accepts connections. */
  static async start(scope: ProcessScope, options: NetnsMetaClusterOptions = {}): Promise<NetnsMetaCluster> {
    const size = options.size ?? 3;
    const network = await createNetwork({ hosts: Math.max(size, options.hosts ?? size) });
    const meta = await MetaCluster.start(scope, { size: 0 });
    const dataRoot = scope.tempDir('basalt-meta-netns');
    for (const host of network.hosts.slice(0, size)) {
      const member: MetaMember = { id: `m${host.index}`, address: `${host.ip}:${metaPort}`, port: metaPort, metricsPort, dataDir: join(dataRoot, `m${host.index}`), process: undefined };
      meta.members.push(member);
    }
    const flags = ['--tick-ms', String(options.tickMs ?? 50), '--election-ticks', String(options.electionTicks ?? 10), ...(options.flags ?? [])];
    const cluster = new NetnsMetaCluster(meta, network, scope, flags);
    try {
      for (let i = 0; i < size; i++) await cluster.restart(i);
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  get size(): number {
    return this.meta.members.length;
  }

  host(i: number): NetnsHost {
    const h = this.network.hosts[i];
    if (h === undefined) throw new Error(`no host ${i}`);
    return h;
  }

  /** Starts member i (again, from its data dir) in its namespace; waits until it accepts connections. */
  async restart(i: number): Promise<TestProcess> {
    const m = this.meta.member(i);
    const args = ['meta', 'start', '--id', m.id, '--listen', m.address, '--peers', this.meta.peers(), '--data-dir', m.dataDir, '--metrics-port', String(m.metricsPort), '--insecure', ...this.flags];
    const [command, argv] = this.network.wrap(this.host(i), process.execPath, [cliBin, ...args]);
    const p = this.scope.spawn(m.id, command, argv);
    this.started.push(p);
    m.process = p;
    await waitForPort(m.port, { host: this.host(i).ip, process: p });
    return p;
  }

  async kill(i: number): Promise<void> {
    await this.meta.signal(i, 'SIGKILL');
  }

  pause(i: number): void {
    this.meta.member(i).process?.signal('SIGSTOP');
  }

  resume(i: number): void {
    this.meta.member(i).process?.signal('SIGCONT');
  }

  async leaderIndex(): Promise<number | undefined> {
    for (const i of this.meta.running()) {
      try {
        const s = await this.meta.status(i);
        const lead = this.meta.members.findIndex((m) => m.id === s.leaderId);
        if (lead >= 0) return lead;
      } catch {
        // Paused or cut off: ask the next one.
      }
    }
    return undefined;
  }

  isolate(i: number): Promise<void> {
    return this.network.isolate(this.host(i));
  }

  cutOneWay(from: number, to: number): Promise<void> {
    return this.network.cutOneWay(this.host(from), this.host(to));
  }

  heal(): Promise<void> {
    return this.network.heal();
  }

  /** The tail of every member's log, for failure messages. */
  logs(): string {
    return this.meta.members.map((m) => `--- ${m.id}\n${m.process?.log().split('\n').slice(-30).join('\n') ?? ''}`).join('\n');
  }

  /** Stops the members, closes clients and removes the namespaces. */
  async destroy(): Promise<void> {
    for (const m of this.meta.members) m.process?.signal('SIGCONT');
    await Promise.all(this.started.splice(0).map((p) => stopProcess(p)));
    this.meta.close();
    await this.network.destroy();
  }
}
