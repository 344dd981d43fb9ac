/**
 * A real network partition of a 3-member metad cluster: each member is a host of its own (a
 * network namespace, test/lib/netns.ts) and the leader is cut off from its peers with iptables,
 * while this test process, a client on another link, still reaches every member.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, MiB } from '@basalt/stdx';
import { NetnsMetaCluster } from './lib/netns-meta-cluster.js';
import { errorCodeOf } from './lib/errors.js';
import { ProcessScope, waitFor } from './lib/process.js';

/** What a member without a quorum may answer instead of serving: never a success. */
const refusals: readonly string[] = [ErrorCode.NotLeader, ErrorCode.Unavailable, ErrorCode.Timeout];

/** The code a call is refused with, or 'served'. */
async function refusal(call: Promise<unknown>): Promise<string> {
  return (await errorCodeOf(call)) ?? 'served';
}

describe('a metad leader cut off by a network partition', () => {
  const scope = new ProcessScope();
  let cluster: NetnsMetaCluster;

  beforeAll(async () => {
    cluster = await NetnsMetaCluster.start(scope);
  });

  afterAll(async () => {
    await cluster?.destroy();
    await scope.cleanup();
  });

  it('steps down by check-quorum, the majority elects a leader and serves, the minority refuses, and all converge after healing', async () => {
    const meta = cluster.meta;
    const client = meta.client({ callTimeoutMs: 30_000 });
    const old = await meta.waitForLeader();
    await client.call('createVolume', { name: 'part', sizeBytes: 64 * MiB });
    await client.call('setVolumeLabel', { name: 'part', key: 'k', value: 'before' });
    const termBefore = (await meta.status(old)).term;

    await cluster.isolate(old);
    try {
      // Check-quorum: with no peer answering, the old leader stops leading on its own.
      await waitFor('the isolated leader to step down', async () => (await meta.status(old)).role !== 'leader', { timeoutMs: 60_000 });

      const majority = [0, 1, 2].filter((i) => i !== old);
      const next = await meta.waitForLeader(majority);
      expect(majority).toContain(next);
      expect((await meta.status(next)).term).toBeGreaterThan(termBefore);
      const majorityClient = meta.client({ endpoints: majority.map((i) => meta.member(i).address), callTimeoutMs: 30_000 });
      await majorityClient.call('setVolumeLabel', { name: 'part', key: 'k', value: 'during' });

      // The minority refuses writes and linearizable reads; its stale view still has the old value.
      const atOld = { address: meta.member(old).address, timeoutMs: 3_000 };
      const writeAnswer = await refusal(client.call('setVolumeLabel', { name: 'part', key: 'k', value: 'minority' }, atOld));
      const readAnswer = await refusal(client.call('getVolume', { name: 'part' }, atOld));
      console.log(`minority member ${meta.member(old).id}: write -> ${writeAnswer}, linearizable read -> ${readAnswer}`);
      expect(refusals).toContain(writeAnswer);
      expect(refusals).toContain(readAnswer);
      expect((await client.call('getVolume', { name: 'part', stale: true }, atOld)).volume?.labels?.k).toBe('before');
      expect((await meta.status(old)).role).not.toBe('leader');
    } finally {
      await cluster.heal();
    }

    const statuses = await meta.waitForConvergence([0, 1, 2]);
    expect(new Set(statuses.map((s) => s.stateHash)).size).toBe(1);
    await meta.waitForLeader([0, 1, 2]);
    // The majority's write survived, the minority's refused one never applied, on every member.
    expect((await client.call('getVolume', { name: 'part' })).volume?.labels?.k).toBe('during');
    for (const i of [0, 1, 2]) {
      const reply = await client.call('getVolume', { name: 'part', stale: true }, { address: meta.member(i).address, timeoutMs: 3_000 });
      expect(reply.volume?.labels?.k).toBe('during');
    }
  });
});
