/**
 * A metad cluster of real processes on 127.0.0.1 for tests: each member is
 * `basalt meta start` with its own port, metrics port and data dir, started through a
 * ProcessScope (see process.ts), so the scope's cleanup() stops it.
 */
import { join } from 'node:path';
import type { Identity } from '@basalt/stdx';
import { initCa, issueInto, tlsFilesOf } from '@basalt/cli';
import { MetaClient, TransportSecurity } from '@basalt/wire';
import type { MetaClientOptions, MetaReply } from '@basalt/wire';
import { freePorts, waitFor, waitForPort } from './process.js';
import type { ProcessScope, Signal, TestProcess } from './process.js';

export interface MetaMember {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly dataDir: string;
  /** The current process (undefined before the first start). */
  process: TestProcess | undefined;
}

export interface StartOptions {
  join?: boolean;
  forceNewCluster?: boolean;
  /** --peers value (default: every member defined so far). */
  peers?: string;
}

export interface MetaClusterOptions {
  size?: number;
  /** Extra `basalt meta start` flags for every member (e.g. --snapshot-entries 20). */
  flags?: readonly string[];
  /** Defaults: 50 ms ticks, elections after 10 to 20 ticks. */
  tickMs?: number;
  electionTicks?: number;
  /**
   * Mutual TLS as `basalt up` runs it (default false: --insecure): a CA and a certificate per
   * member in a temp dir, and clients of this cluster connect as an admin.
   */
  tls?: boolean;
}

const adminIdentity = { role: 'admin', name: 'admin' } as const;

export class MetaCluster {
  readonly members: MetaMember[] = [];
  private readonly clients: MetaClient[] = [];
  private readonly flags: string[];

  /** The certificate folder (MetaClusterOptions.tls); undefined: --insecure. */
  private certDir: string | undefined;

  private constructor(private readonly scope: ProcessScope, private readonly root: string, options: MetaClusterOptions) {
    this.flags = ['--tick-ms', String(options.tickMs ?? 50), '--election-ticks', String(options.electionTicks ?? 10), ...(options.flags ?? [])];
  }

  /** Starts `size` members that bootstrap a new cluster and waits until they serve. */
  static async start(scope: ProcessScope, options: MetaClusterOptions = {}): Promise<MetaCluster> {
    const cluster = new MetaCluster(scope, scope.tempDir('basalt-meta'), options);
    const size = options.size ?? 3;
    if (options.tls === true) {
      cluster.certDir = join(cluster.root, 'certs');
      await initCa(cluster.certDir, 'Basalt test CA');
      await issueInto(cluster.certDir, adminIdentity, []);
    }
    for (let i = 0; i < size; i++) await cluster.define(`m${i + 1}`);
    for (let i = 0; i < size; i++) cluster.start(i);
    await Promise.all(cluster.members.map((m) => waitForPort(m.port, { process: m.process! })));
    return cluster;
  }

  /** host:port of every member defined so far. */
  get endpoints(): string[] {
    return this.members.map((m) => m.address);
  }

  /** Reserves ports, a data dir and (with TLS) a certificate for a new member (not started, not in the cluster). */
  async define(id: string): Promise<MetaMember> {
    const [port, metricsPort] = await freePorts(2);
    const member: MetaMember = { id, address: `127.0.0.1:${port}`, port: port!, metricsPort: metricsPort!, dataDir: join(this.root, id), process: undefined };
    this.members.push(member);
    if (this.certDir !== undefined) await issueInto(this.certDir, { role: 'metad', name: id }, ['127.0.0.1']);
    return member;
  }

  /** The --peers value: the initial members (those defined before the first start) or all. */
  peers(members: readonly MetaMember[] = this.members): string {
    return members.map((m) => `${m.id}=${m.address}`).join(',');
  }

  /**
   * Starts (or restarts from its data dir) member `i`. `join` for a member added at run time,
   * `forceNewCluster` to restart a lone survivor as a one-member cluster.
   */
  start(i: number, options: StartOptions = {}): TestProcess {
    const m = this.member(i);
    const args = [
      'meta', 'start', '--id', m.id, '--listen', m.address, '--peers', options.peers ?? this.peers(), '--data-dir', m.dataDir,
      '--metrics-port', String(m.metricsPort), ...this.transportArgs(m.id), ...this.flags, ...(options.join === true ? ['--join'] : []),
      ...(options.forceNewCluster === true ? ['--force-new-cluster'] : []),
    ];
    m.process = this.scope.spawnCli(m.id, args);
    return m.process;
  }

  /** Restarts member `i` and waits until it accepts connections. */
  async restart(i: number, options: StartOptions = {}): Promise<TestProcess> {
    const p = this.start(i, options);
    await waitForPort(this.member(i).port, { process: p });
    return p;
  }

  /** Sends `sig` to member `i`'s process; for SIGKILL/SIGTERM waits until it has exited. */
  async signal(i: number, sig: Signal): Promise<void> {
    const p = this.member(i).process;
    if (p === undefined) return;
    p.signal(sig);
    if (sig === 'SIGKILL' || sig === 'SIGTERM') await p.exited;
  }

  /** A MetaClient of the whole cluster (or of `endpoints`), closed by close(). */
  client(options: Partial<MetaClientOptions> = {}): MetaClient {
    const c = new MetaClient({ endpoints: this.endpoints, security: this.security(), ...options });
    this.clients.push(c);
    return c;
  }

  /** Status of member `i`, asked of that member only. */
  async status(i: number): Promise<MetaReply<'status'>> {
    return this.statusClient().call('status', { stateHash: true }, { address: this.member(i).address, timeoutMs: 2_000 });
  }

  /**
   * Waits until one of `alive` (default: every member whose process runs) is leader and every
   * one of them agrees on its id and term; returns the leader's index.
   */
  async waitForLeader(alive: readonly number[] = this.running(), timeoutMs = 60_000): Promise<number> {
    return waitFor('a leader all live members agree on', async () => {
      const statuses = await Promise.all(alive.map((i) => this.status(i)));
      const leader = statuses.find((s) => s.role === 'leader');
      if (leader === undefined) return undefined;
      const agree = statuses.every((s) => s.leaderId === leader.id && s.term === leader.term);
      return agree ? this.members.findIndex((m) => m.id === leader.id) : undefined;
    }, { timeoutMs });
  }

  /** Waits until members `indexes` have applied the same index and report the same state hash. */
  async waitForConvergence(indexes: readonly number[] = this.running(), timeoutMs = 60_000): Promise<MetaReply<'status'>[]> {
    return waitFor('members to converge on one applied index and state hash', async () => {
      const statuses = await Promise.all(indexes.map((i) => this.status(i)));
      const first = statuses[0]!;
      const same = statuses.every((s) => s.appliedIndex === first.appliedIndex && s.stateHash === first.stateHash);
      return same ? statuses : undefined;
    }, { timeoutMs });
  }

  /** Indexes of members whose process is running. */
  running(): number[] {
    return this.members.flatMap((m, i) => (m.process !== undefined && !m.process.hasExited ? [i] : []));
  }

  member(i: number): MetaMember {
    const m = this.members[i];
    if (m === undefined) throw new Error(`no member ${i}`);
    return m;
  }

  /** Closes the clients; processes are stopped by the scope's cleanup(). */
  close(): void {
    for (const c of this.clients.splice(0)) c.close();
    this.statusClientInstance?.close();
    this.statusClientInstance = undefined;
  }

  private statusClientInstance: MetaClient | undefined;

  private statusClient(): MetaClient {
    this.statusClientInstance ??= new MetaClient({ endpoints: this.endpoints, security: this.security() });
    return this.statusClientInstance;
  }

  /** How clients of this cluster connect: as an admin over mutual TLS, or in the clear. */
  security(): TransportSecurity {
    return this.certDir === undefined ? TransportSecurity.insecure() : TransportSecurity.fromFiles(tlsFilesOf(this.certDir, adminIdentity));
  }

  /** A connection's security as a holder of a certificate from this cluster's CA for `identity` (MetaClusterOptions.tls). */
  async securityOf(identity: Identity): Promise<TransportSecurity> {
    if (this.certDir === undefined) throw new Error('the cluster runs --insecure');
    await issueInto(this.certDir, identity, []);
    return TransportSecurity.fromFiles(tlsFilesOf(this.certDir, identity));
  }

  private transportArgs(id: string): string[] {
    if (this.certDir === undefined) return ['--insecure'];
    const f = tlsFilesOf(this.certDir, { role: 'metad', name: id });
    return ['--tls-ca', f.ca, '--tls-cert', f.cert, '--tls-key', f.key];
  }
}
