import { describe, expect, it } from 'vitest';
import type { ReplicaMeta } from '../replica/replica-meta.js';
import { deletedVolumes, staleMarks } from './reclaim.js';

function replica(volumeId: number, servers: string[], state: ReplicaMeta['state'] = 'active'): ReplicaMeta {
  return { volumeId, index: 0, extentSizeBytes: 1 << 20, epoch: 1, replicas: servers.map((serverId) => ({ serverId, address: `${serverId}:1` })), version: 0, state };
}

const census = { liveVolumeIds: new Set([2, 5]), nextVolumeId: 7, servers: new Map(['a', 'b', 'c'].map((id) => [id, `${id}:1`])), volumeNames: new Map([[2, 'two'], [5, 'five']]) };

describe('which volumes the reclaimer may remove', () => {
  it('only volumes metad issued and no longer has, recorded with servers metad knows', () => {
    const local = [
      replica(1, ['a', 'b']), // deleted: reclaimed
      replica(2, ['a', 'b']), // live
      replica(3, [], 'fenced'), // deleted, fenced (no set recorded): reclaimed
      replica(4, ['a', 'x']), // deleted at this metad, but recorded with a server it does not know
      replica(4, ['a', 'b']),
      { ...replica(6, ['a']), replicas: [{ serverId: 'a', address: 'elsewhere:1' }] }, // a server of that name, at another address
      replica(7, ['a']), // not issued yet by this metad (a new cluster, or a lost state)
      replica(9, ['a']),
    ];
    expect([...deletedVolumes(local, census)].sort()).toEqual([1, 3]);
  });

  it('removes nothing when metad has issued no ids (a fresh or reset cluster)', () => {
    expect(deletedVolumes([replica(1, ['a'])], { liveVolumeIds: new Set(), nextVolumeId: 1, servers: new Map([['a', 'a:1']]), volumeNames: new Map() }).size).toBe(0);
  });

  it('snapshot marks metad no longer lists are stale; marks of volumes not asked about are not', () => {
    const marks = (ids: number[]) => ids.map((id) => ({ id, epoch: 1, seq: id }));
    const local = [{ ...replica(2, ['a']), snapshots: marks([1, 3, 4]) }, { ...replica(2, ['a']), index: 1, snapshots: marks([4]) }, { ...replica(5, ['a']), snapshots: marks([1]) }];
    expect([...staleMarks(local, new Map([[2, new Set([3])]]))].sort()).toEqual(['2/0/1', '2/0/4', '2/1/4']);
  });
});
