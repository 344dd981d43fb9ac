import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { handleWhen, noop, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { ProcessScope, freePorts, waitFor, type TestProcess } from '../../test/lib/process.js';
import type { BenchTarget, Member } from './target.js';

const execFileAsync = promisify(execFile);
const startupTimeoutMs = 60_000;

/**
 * The etcd3 client with its per-host circuit breaker off: the default breaker refuses a host for
 * 5 s after three failures, which measured the client library (failovers of 2-6 s), not etcd.
 * Calls still retry on another member (3 attempts), as by default.
 */
function clientOptions(hosts: string[]): IOptions {
  return { hosts, faultHandling: { host: () => noop, global: retry(handleWhen(isRecoverableError), { maxAttempts: 3 }) } };
}

interface EtcdMember extends Member {
  readonly id: number;
  readonly clientUrl: string;
  readonly peerUrl: string;
  proc: TestProcess | undefined;
  readonly pid: number | undefined;
}

/**
 * etcd (Debian's etcd-server) as the reference: 3 members on loopback, default timeouts
 * (heartbeat 100 ms, election 1000 ms), data in a temp dir on the same disk as Basalt's, and
 * the `etcd3` npm client (gRPC, one channel per member, linearizable reads by default).
 */
export class EtcdTarget implements BenchTarget {
  readonly system = 'etcd';
  members: EtcdMember[] = [];
  private dir = '';
  private client: Etcd3 | undefined;
  /** The etcd processes, their logs and this.dir: stop() removes them all. */
  private readonly scope = new ProcessScope();

  async start(): Promise<void> {
    this.dir = this.scope.tempDir('basalt-bench-etcd');
    const ports = await freePorts(6);
    this.members = [1, 2, 3].map((id) => {
      const m: EtcdMember = {
        id,
        name: `etcd-${id}`,
        clientUrl: `http://127.0.0.1:${ports[2 * id - 2]}`,
        peerUrl: `http://127.0.0.1:${ports[2 * id - 1]}`,
        proc: undefined,
        get pid() {
          return this.proc !== undefined && !this.proc.hasExited ? this.proc.pid : undefined;
        },
      };
      return m;
    });
    for (const m of this.members) this.spawn(m);
    this.client = new Etcd3(clientOptions(this.members.map((m) => m.clientUrl)));
    await this.waitWritable(startupTimeoutMs);
  }

  async prepare(keys: number): Promise<void> {
    for (let k = 0; k < keys; k++) await this.write(k, 'init', 10_000);
  }

  async write(key: number, value: string, deadlineMs: number): Promise<void> {
    await this.etcd().put(`bench/${key}`).value(value).options({ deadline: Date.now() + deadlineMs }).exec();
  }

  async read(key: number, deadlineMs: number): Promise<void> {
    await this.etcd().get(`bench/${key}`).options({ deadline: Date.now() + deadlineMs }).string();
  }

  async leader(): Promise<EtcdMember> {
    const live = this.members.filter((m) => m.pid !== undefined);
    const { stdout } = await execFileAsync('etcdctl', ['--endpoints', live.map((m) => m.clientUrl).join(','), 'endpoint', 'status', '-w', 'json'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 10_000,
    });
    const statuses = JSON.parse(stdout) as { Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }[];
    const lead = statuses.find((s) => String(s.Status.header.member_id) === String(s.Status.leader));
    const member = this.members.find((m) => m.clientUrl === lead?.Endpoint);
    if (member === undefined) throw new Error(`etcd: no leader among ${stdout}`);
    return member;
  }

  async kill(member: Member): Promise<void> {
    const p = this.own(member).proc;
    p?.signal('SIGKILL');
    await p?.exited;
  }

  async restart(member: Member): Promise<void> {
    const m = this.own(member);
    this.spawn(m);
    // Healthy: the restarted member answers a linearizable read itself (it has a leader and caught up).
    const one = new Etcd3(clientOptions([m.clientUrl]));
    try {
      await waitFor(`${m.name} to serve a linearizable read`, async () => {
        await one.get('bench/0').options({ deadline: Date.now() + 1_000 }).string();
        return true;
      }, { timeoutMs: startupTimeoutMs, intervalMs: 50 });
    } finally {
      one.close();
    }
  }

  async stop(): Promise<void> {
    this.client?.close();
    await this.scope.cleanup();
  }

  private spawn(m: EtcdMember): void {
    const cluster = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
    m.proc = this.scope.spawn(m.name, 'etcd', [
      '--name', m.name,
      '--data-dir', join(this.dir, m.name),
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', cluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', 'basalt-bench',
      '--logger', 'zap',
    ]);
  }

  private async waitWritable(timeoutMs: number): Promise<void> {
    await waitFor('etcd to accept a write', async () => {
      await this.write(0, 'hello', 1_000);
      return true;
    }, { timeoutMs });
  }

  private etcd(): Etcd3 {
    if (this.client === undefined) throw new Error('etcd target not started');
    return this.client;
  }

  private own(member: Member): EtcdMember {
    const m = this.members.find((x) => x.name === member.name);
    if (m === undefined) throw new Error(`not an etcd member: ${member.name}`);
    return m;
  }
}
