import { MiB } from '@basalt/stdx';
import type { MetaClient } from '@basalt/wire/meta';
import { MetaCluster } from '../../test/lib/meta-cluster.js';
import { ProcessScope, waitFor } from '../../test/lib/process.js';
import type { BenchTarget, Member } from './target.js';

const startupTimeoutMs = 60_000;
/**
 * metad's shipped defaults (packages/meta/src/server/metad.ts): a 50 ms tick, heartbeats every
 * tick and elections after 5-10 ticks (0.25-0.5 s). etcd runs with its own defaults (100 ms, 1 s).
 */
const tickMs = 50;
const electionTicks = 5;

const volumeName = (key: number): string => `bench-${key}`;

/**
 * Basalt metad as the system under test: 3 members started with `basalt meta start` on loopback
 * (test/lib/meta-cluster.ts), data dirs in a temp dir on the same disk as etcd's, driven through
 * MetaClient (framed Meta calls, follows NOT_LEADER hints). A small-value write is SetVolumeLabel; a
 * linearizable read is GetVolume.
 */
export class BasaltTarget implements BenchTarget {
  readonly system: string;
  private readonly scope = new ProcessScope();
  private cluster: MetaCluster | undefined;
  private client: MetaClient | undefined;

  /** `tls`: every link and the client with mutual TLS, as `basalt up` runs metad (system "basalt-tls"). */
  constructor(private readonly tls = false) {
    this.system = tls ? 'basalt-tls' : 'basalt';
  }

  get members(): Member[] {
    return (this.cluster?.members ?? []).map((m) => ({ name: m.id, pid: m.process !== undefined && !m.process.hasExited ? m.process.pid : undefined }));
  }

  async start(): Promise<void> {
    this.cluster = await MetaCluster.start(this.scope, { tickMs, electionTicks, tls: this.tls });
    this.client = this.cluster.client();
    await this.cluster.waitForLeader(undefined, startupTimeoutMs);
  }

  async prepare(keys: number): Promise<void> {
    for (let k = 0; k < keys; k++) await this.meta().call('createVolume', { name: volumeName(k), sizeBytes: 64 * MiB });
  }

  async write(key: number, value: string, deadlineMs: number): Promise<void> {
    await this.meta().call('setVolumeLabel', { name: volumeName(key), key: 'bench', value }, { timeoutMs: deadlineMs });
  }

  async read(key: number, deadlineMs: number): Promise<void> {
    await this.meta().call('getVolume', { name: volumeName(key) }, { timeoutMs: deadlineMs });
  }

  async leader(): Promise<Member> {
    const i = await this.running().waitForLeader(undefined, startupTimeoutMs);
    return this.members[i]!;
  }

  async kill(member: Member): Promise<void> {
    await this.running().signal(this.index(member), 'SIGKILL');
  }

  /** Restarts the member and waits until it follows the leader and has applied what it had committed. */
  async restart(member: Member): Promise<void> {
    const cluster = this.running();
    const i = this.index(member);
    await cluster.restart(i);
    const leader = await cluster.waitForLeader(undefined, startupTimeoutMs);
    const { commitIndex } = await cluster.status(leader);
    await waitFor(`${member.name} to catch up`, async () => {
      const s = await cluster.status(i);
      return s.role === 'follower' && s.appliedIndex >= commitIndex;
    }, { timeoutMs: startupTimeoutMs });
  }

  async stop(): Promise<void> {
    this.cluster?.close();
    await this.scope.cleanup();
  }

  private meta(): MetaClient {
    if (this.client === undefined) throw new Error('basalt target not started');
    return this.client;
  }

  private running(): MetaCluster {
    if (this.cluster === undefined) throw new Error('basalt target not started');
    return this.cluster;
  }

  private index(member: Member): number {
    const i = this.running().members.findIndex((m) => m.id === member.name);
    if (i < 0) throw new Error(`not a metad member: ${member.name}`);
    return i;
  }
}
