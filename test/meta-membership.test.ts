/**
 * metad snapshots and membership with real processes: with tiny snapshot thresholds the log is
 * compacted, so a member wiped and added again (under a new id, with an empty data dir) can only
 * catch up from a snapshot; a learner is added and promoted; a removed member stops serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB } from '@basalt/stdx';
import { MetaCluster } from './lib/meta-cluster.js';
import { ProcessScope, runCliJson, waitFor, waitForLog } from './lib/process.js';

const scope = new ProcessScope();
let cluster: MetaCluster;

beforeAll(async () => {
  cluster = await MetaCluster.start(scope, { flags: ['--snapshot-entries', '20', '--snapshot-keep', '5'] });
  await cluster.waitForLeader();
});

afterAll(async () => {
  cluster?.close();
  await scope.cleanup();
});

async function writeVolumes(prefix: string, n: number): Promise<void> {
  const meta = cluster.client();
  for (let i = 0; i < n; i++) await meta.call('createVolume', { name: `${prefix}-${i}`, sizeBytes: GiB });
}

describe('metad snapshots and membership', () => {
  it('takes snapshots and compacts the log by size', async () => {
    await writeVolumes('a', 60);
    const statuses = await cluster.waitForConvergence([0, 1, 2]);
    for (const s of statuses) {
      expect(s.snapshotIndex).toBeGreaterThan(20);
      expect(s.firstLogIndex).toBeGreaterThan(1);
    }
    const leader = await cluster.waitForLeader();
    const text = await fetch(`http://127.0.0.1:${cluster.member(leader).metricsPort}/metrics`).then((r) => r.text());
    expect(text).toMatch(/^basalt_meta_snapshots_total [1-9]/m);
    expect(text).toMatch(/^basalt_meta_fsync_seconds_count [1-9]/m);
    expect(text).toMatch(/^basalt_meta_rpc_total\{method="createVolume",code="OK"\} [1-9]/m);
    // The Raft progress gauges are read from the member when scraped.
    const status = statuses[leader]!;
    const gauge = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(gauge('basalt_meta_snapshot_index')).toBeGreaterThanOrEqual(status.snapshotIndex);
    expect(gauge('basalt_meta_applied_index')).toBeGreaterThanOrEqual(status.appliedIndex);
    expect(gauge('basalt_meta_term')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^basalt_meta_is_leader 1$/m);
    expect(text).toMatch(/^basalt_meta_role\{role="leader"\} 1$/m);
    expect(text).toMatch(/^basalt_meta_role\{role="follower"\} 0$/m);
  });

  it('replaces a wiped member with a new one that catches up from a snapshot', async () => {
    const meta = cluster.client();
    const leader = await cluster.waitForLeader();
    const victim = [0, 1, 2].find((i) => i !== leader)!;
    await cluster.signal(victim, 'SIGKILL');
    await meta.call('removeMember', { id: cluster.member(victim).id });
    await writeVolumes('b', 30);

    const fresh = await cluster.define('m4');
    const initial = cluster.peers(cluster.members.slice(0, 3));
    const members = await runCliJson<{ id: string; learner: boolean }[]>(
      ['meta', 'members', 'add', 'm4', '--address', fresh.address, '--json', '--metad', cluster.endpoints.slice(0, 3).join(',')],
    );
    expect(members.map((m) => m.id)).toContain('m4');
    const p = await cluster.restart(3, { join: true, peers: initial });
    await waitForLog(p, /installed a snapshot at index \d+/);
    const live = [0, 1, 2, 3].filter((i) => i !== victim);
    const statuses = await cluster.waitForConvergence(live);
    expect(new Set(statuses.map((s) => s.stateHash)).size).toBe(1);
    const stale = await meta.call('listVolumes', { stale: true }, { address: fresh.address });
    expect(stale.volumes.map((v) => v.name)).toContain('b-29');
  });

  it('adds a learner, promotes it to voter, and a removed member stops serving', async () => {
    const meta = cluster.client();
    const learner = await cluster.define('m5');
    await meta.call('addMember', { id: 'm5', address: learner.address, learner: true });
    const p = await cluster.restart(4, { join: true, peers: cluster.peers(cluster.members.slice(0, 3)) });
    await waitFor('m5 to report itself a learner', async () => (await cluster.status(4)).role === 'learner');
    await meta.call('promoteMember', { id: 'm5' });
    await waitFor('m5 to become a voter', async () => ['follower', 'leader'].includes((await cluster.status(4)).role));
    const { members } = await meta.call('listMembers', {});
    expect(members.find((m) => m.id === 'm5')?.learner).toBe(false);

    await meta.call('removeMember', { id: 'm5' });
    const exit = await p.exited;
    expect(exit.code).toBe(0);
    expect(p.log()).toMatch(/m5 was removed from the cluster/);
    const after = await meta.call('listMembers', {});
    expect(after.members.map((m) => m.id)).not.toContain('m5');
  });
});
