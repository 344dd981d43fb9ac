/**
 * metad as real processes on 127.0.0.1: a 3-member cluster elects a leader and serves volume
 * operations through the CLI and MetaClient; followers redirect to the leader; bad input gets
 * its stable code; kill -9 of the leader loses no acknowledged write; a full restart from the
 * data dirs comes back with the same state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, GiB, MiB } from '@basalt/stdx';
import { MetaClient } from '@basalt/wire';
import { MetaCluster } from './lib/meta-cluster.js';
import { codeOf } from './lib/errors.js';
import { ProcessScope, runCli, runCliJson } from './lib/process.js';

const scope = new ProcessScope();
let cluster: MetaCluster;

beforeAll(async () => {
  cluster = await MetaCluster.start(scope);
});

afterAll(async () => {
  cluster?.close();
  await scope.cleanup();
});

describe('a 3-member metad cluster', () => {
  it('elects one leader that every member knows', async () => {
    const leader = await cluster.waitForLeader();
    const statuses = await Promise.all([0, 1, 2].map((i) => cluster.status(i)));
    expect(statuses.filter((s) => s.role === 'leader').map((s) => s.id)).toEqual([cluster.member(leader).id]);
    for (const s of statuses) expect(s.pid).toBe(cluster.member(statuses.indexOf(s)).process!.pid);
  });

  it('serves volume operations through the CLI with --json output', async () => {
    const metad = ['--metad', cluster.endpoints.join(',')];
    const created = await runCliJson<{ name: string; sizeBytes: number; replicationFactor: number; extentCount: number }>(
      ['volume', 'create', 'cli-vol', '--size', '1GiB', '--replicas', '2', '--json', ...metad],
    );
    expect(created).toMatchObject({ name: 'cli-vol', sizeBytes: GiB, replicationFactor: 2, extentCount: 16 });
    const resized = await runCliJson<{ sizeBytes: number }>(['volume', 'resize', 'cli-vol', '--size', '2GiB', '--json', ...metad]);
    expect(resized.sizeBytes).toBe(2 * GiB);
    const labelled = await runCliJson<{ labels: Record<string, string> }>(['volume', 'label', 'cli-vol', 'tier', '--value', 'gold', '--expect-absent', '--json', ...metad]);
    expect(labelled.labels).toEqual({ tier: 'gold' });
    const list = await runCliJson<{ name: string }[]>(['volume', 'ls', '--json', ...metad]);
    expect(list.map((v) => v.name)).toContain('cli-vol');
    const info = await runCliJson<{ sizeBytes: number; labels: Record<string, string> }>(['volume', 'info', 'cli-vol', '--json', ...metad]);
    expect(info).toMatchObject({ sizeBytes: 2 * GiB, labels: { tier: 'gold' } });
    expect((await runCli(['volume', 'rm', 'cli-vol', ...metad])).code).toBe(0);
    const missing = await runCli(['volume', 'info', 'cli-vol', ...metad]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('BASALT_VOLUME_NOT_FOUND');
  });

  it('reports each member in basalt status --json', async () => {
    const leader = await cluster.waitForLeader();
    const out = await runCliJson<{ members: { id: string; role: string; term: number; appliedIndex: number; pid: number }[] }>(
      ['status', '--json', '--metad', cluster.member(0).address],
    );
    expect(out.members.map((m) => m.id).sort()).toEqual(['m1', 'm2', 'm3']);
    expect(out.members.find((m) => m.role === 'leader')?.id).toBe(cluster.member(leader).id);
    for (const m of out.members) expect(m.pid).toBe(cluster.members.find((x) => x.id === m.id)!.process!.pid);
  });

  it('refuses bad input with stable codes and applies nothing', async () => {
    const meta = cluster.client();
    expect(await codeOf(meta.call('createVolume', { name: 'bad size', sizeBytes: GiB }))).toBe(ErrorCode.InvalidArgument);
    expect(await codeOf(meta.call('createVolume', { name: 'odd', sizeBytes: 3 * MiB }))).toBe(ErrorCode.InvalidArgument);
    expect(await codeOf(meta.call('createVolume', { name: 'rf', sizeBytes: GiB, replicationFactor: 9 }))).toBe(ErrorCode.InvalidArgument);
    expect(await codeOf(meta.call('createVolume', { name: 'ext', sizeBytes: GiB, extentSizeBytes: 3 * MiB }))).toBe(ErrorCode.InvalidArgument);
    expect(await codeOf(meta.call('getVolume', { name: 'nope' }))).toBe(ErrorCode.VolumeNotFound);
    expect(await codeOf(meta.call('getExtentMap', { volume: 'nope', count: 1_000_000 }))).toBe(ErrorCode.InvalidArgument);
    expect(await codeOf(meta.call('addMember', { id: 'bad id!', address: '127.0.0.1:1' }))).toBe(ErrorCode.InvalidArgument);
    expect(await codeOf(meta.call('removeMember', { id: 'm9' }))).toBe(ErrorCode.MemberNotFound);
    await meta.call('createVolume', { name: 'dup', sizeBytes: GiB });
    expect(await codeOf(meta.call('createVolume', { name: 'dup', sizeBytes: 2 * GiB }))).toBe(ErrorCode.VolumeExists);
    expect(await codeOf(meta.call('resizeVolume', { name: 'dup', sizeBytes: 64 * MiB }))).toBe(ErrorCode.ShrinkNotAllowed);
    const { volumes } = await meta.call('listVolumes', {});
    expect(volumes.filter((v) => ['bad size', 'odd', 'rf', 'ext'].includes(v.name ?? ''))).toEqual([]);
    expect(volumes.find((v) => v.name === 'dup')?.sizeBytes).toBe(GiB);
  });

  it('lets concurrent proposals share fsyncs on the leader', async () => {
    const leader = await cluster.waitForLeader();
    const counts = async (): Promise<{ proposals: number; fsyncs: number }> => {
      const text = await fetch(`http://127.0.0.1:${cluster.member(leader).metricsPort}/metrics`).then((r) => r.text());
      const count = (name: string): number => Number(new RegExp(`^${name}_count (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
      return { proposals: count('basalt_meta_proposal_seconds'), fsyncs: count('basalt_meta_fsync_seconds') };
    };
    const before = await counts();
    const meta = cluster.client();
    await Promise.all(Array.from({ length: 64 }, (_, i) => meta.call('createVolume', { name: `batch-${i}`, sizeBytes: GiB })));
    const after = await counts();
    expect(after.proposals - before.proposals).toBe(64);
    expect(after.fsyncs - before.fsyncs).toBeLessThan(64);
  });

  it('answers NOT_LEADER with the leader address on a follower, and MetaClient follows it', async () => {
    const leader = await cluster.waitForLeader();
    const follower = [0, 1, 2].find((i) => i !== leader)!;
    const direct = cluster.client();
    const err = await direct.call('createVolume', { name: 'redirect', sizeBytes: GiB }, { address: cluster.member(follower).address }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BasaltError);
    expect((err as BasaltError).code).toBe(ErrorCode.NotLeader);
    expect((err as BasaltError).details.leaderAddress).toBe(cluster.member(leader).address);
    const viaFollower = new MetaClient({ endpoints: [cluster.member(follower).address] });
    try {
      const reply = await viaFollower.call('createVolume', { name: 'redirect', sizeBytes: GiB });
      expect(reply.volume?.name).toBe('redirect');
      expect(viaFollower.leaderHint).toBe(cluster.member(leader).address);
    } finally {
      viaFollower.close();
    }
  });

  it('loses no acknowledged write when the leader is killed with SIGKILL', async () => {
    const leader = await cluster.waitForLeader();
    const meta = cluster.client({ callTimeoutMs: 60_000 });
    const acked: string[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop && i < 400; i++) {
        const name = `kill-${i}`;
        try {
          await meta.call('createVolume', { name, sizeBytes: GiB });
          acked.push(name);
        } catch (err) {
          // An unknown outcome (the retried create found its own earlier attempt) is not an ack.
          if (!(err instanceof BasaltError) || (err.code !== ErrorCode.VolumeExists && err.code !== ErrorCode.Timeout)) throw err;
        }
      }
    })();
    await waitForAcks(acked, 10);
    const before = acked.length;
    await cluster.signal(leader, 'SIGKILL');
    const survivors = [0, 1, 2].filter((i) => i !== leader);
    const next = await cluster.waitForLeader(survivors);
    expect(next).not.toBe(leader);
    await waitForAcks(acked, before + 10);
    stop = true;
    await writer;
    const names = new Set((await meta.call('listVolumes', {})).volumes.map((v) => v.name));
    expect(acked.filter((n) => !names.has(n))).toEqual([]);
    await cluster.restart(leader);
    await cluster.waitForConvergence([0, 1, 2]);
  });

  it('comes back with the same state after every member restarts from its data dir', async () => {
    const meta = cluster.client();
    await meta.call('createVolume', { name: 'before-restart', sizeBytes: GiB });
    const [before] = await cluster.waitForConvergence([0, 1, 2]);
    const volumesBefore = (await meta.call('listVolumes', {})).volumes.map((v) => v.name);
    await Promise.all([0, 1, 2].map((i) => cluster.signal(i, 'SIGTERM')));
    await Promise.all([0, 1, 2].map((i) => cluster.restart(i)));
    await cluster.waitForLeader();
    const volumesAfter = (await meta.call('listVolumes', {})).volumes.map((v) => v.name);
    expect(volumesAfter).toEqual(volumesBefore);
    const after = await cluster.waitForConvergence([0, 1, 2]);
    for (const s of after) expect(s.stateHash).toBe(before!.stateHash);
  });
});

async function waitForAcks(acked: readonly string[], count: number): Promise<void> {
  const end = Date.now() + 120_000;
  while (acked.length < count) {
    if (Date.now() > end) throw new Error(`only ${acked.length} of ${count} writes acknowledged`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
