/**
 * Recovery from losing a majority: two of three members are killed and their data dirs lost;
 * the survivor restarts with --force-new-cluster as a one-member cluster that keeps every
 * acknowledged write it holds, serves again, and grows back with a member that joins.
 */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GiB } from '@basalt/stdx';
import { MetaCluster } from './lib/meta-cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { runCliJson, waitForLog } from './lib/process.js';

const { scope, keep } = clusterScope();

describe('metad disaster recovery', () => {
  it('rebuilds a cluster from the one survivor of a lost majority with --force-new-cluster', async () => {
    const c = keep(await MetaCluster.start(scope));
    const leader = await c.waitForLeader();
    const meta = c.client();
    for (let i = 0; i < 5; i++) await meta.call('createVolume', { name: `keep-${i}`, sizeBytes: GiB });
    await c.waitForConvergence([0, 1, 2]);
    const survivor = leader;
    const lost = [0, 1, 2].filter((i) => i !== survivor);
    for (const i of lost) {
      await c.signal(i, 'SIGKILL');
      rmSync(c.member(i).dataDir, { recursive: true, force: true });
    }
    await c.signal(survivor, 'SIGTERM');

    const p = await c.restart(survivor, { forceNewCluster: true });
    await waitForLog(p, /forced a new one-member cluster/);
    await c.waitForLeader([survivor]);
    const solo = c.client({ endpoints: [c.member(survivor).address] });
    const names = (await solo.call('listVolumes', {})).volumes.map((v) => v.name);
    expect(names).toEqual(['keep-0', 'keep-1', 'keep-2', 'keep-3', 'keep-4']);
    await solo.call('createVolume', { name: 'after', sizeBytes: GiB });

    const fresh = await c.define('m4');
    await runCliJson(['meta', 'members', 'add', 'm4', '--address', fresh.address, '--json', '--metad', c.member(survivor).address]);
    await c.restart(3, { join: true, peers: `${c.member(survivor).id}=${c.member(survivor).address}` });
    const statuses = await c.waitForConvergence([survivor, 3]);
    expect(statuses[0]!.stateHash).toBe(statuses[1]!.stateHash);
    const members = (await solo.call('listMembers', {})).members.map((m) => m.id).sort();
    expect(members).toEqual([c.member(survivor).id, 'm4'].sort());
  });
});
