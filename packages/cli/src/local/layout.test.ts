import { describe, expect, it } from 'vitest';
import { chunkServersMax, planLayout, withChunkServers } from './layout.js';

describe('local cluster layout', () => {
  it('keeps the default of three chunk servers in three zones', () => {
    const file = planLayout({ dir: '/x', basePort: 7100, nbdPort: 10809 });
    expect(file.chunkd.map((c) => [c.id, c.zone, c.address])).toEqual([
      ['c1', 'zone-a', '127.0.0.1:7120'], ['c2', 'zone-b', '127.0.0.1:7121'], ['c3', 'zone-c', '127.0.0.1:7122'],
    ]);
  });

  it('gives every process its own port, up to the most chunk servers', () => {
    const file = planLayout({ dir: '/x', basePort: 7100, nbdPort: 10809, chunkServers: chunkServersMax });
    const ports = [...file.metad.flatMap((m) => [m.address, m.metrics]), ...file.chunkd.flatMap((c) => [c.address, c.metrics]), file.agent.metrics, file.agent.nbd];
    expect(new Set(ports).size).toBe(ports.length);
    expect(file.chunkd.map((c) => c.zone).slice(0, 4)).toEqual(['zone-a', 'zone-b', 'zone-c', 'zone-a']);
  });

  it('adds chunk servers to an existing layout without moving the ones it has', () => {
    const three = planLayout({ dir: '/x', basePort: 7200, nbdPort: 10809 });
    const four = withChunkServers({ ...three, chunkd: three.chunkd.map((c) => ({ ...c, pid: 42 })) }, 4);
    expect(four.chunkd.slice(0, 3).map((c) => [c.id, c.address, c.pid])).toEqual(three.chunkd.map((c) => [c.id, c.address, 42]));
    expect(four.chunkd[3]).toMatchObject({ id: 'c4', zone: 'zone-a', address: '127.0.0.1:7223', metrics: '127.0.0.1:7233', dataDir: '/x/chunkd/c4' });
    expect(withChunkServers(three, 2).chunkd).toHaveLength(3);
  });
});
