import { describe, expect, it } from 'vitest';
import { limits } from '@basalt/stdx';
import { AgentMetrics } from './metrics.js';

/** The sample lines of the exposition whose name and labels contain every one of `parts`. */
async function samples(m: AgentMetrics, ...parts: string[]): Promise<string[]> {
  const text = await m.registry.metrics();
  return text.split('\n').filter((l) => !l.startsWith('#') && parts.every((p) => l.includes(p)));
}

describe('agent op metrics', () => {
  it('records through a connection exactly what recordOp records', async () => {
    const direct = new AgentMetrics({ defaultMetrics: false });
    const handle = new AgentMetrics({ defaultMetrics: false });
    const ops: [op: 'read' | 'write' | 'flush', bytes: number, seconds: number, errno: number][] = [
      ['read', 4096, 0.0003, 0], ['write', 4096, 0.002, 0], ['read', 65536, 0.0011, 0], ['flush', 0, 0.01, 0], ['write', 512, 0.0004, 5], ['read', 4096, 0.00004, 22],
    ];
    const conn = handle.forConnection('7', 'vol');
    for (const [op, bytes, seconds, errno] of ops) {
      direct.recordOp('7', 'vol', op, bytes, seconds, errno);
      conn.record(op, bytes, seconds, errno);
    }
    expect(await samples(handle, 'basalt_nbd_')).toEqual(await samples(direct, 'basalt_nbd_'));
    expect(await samples(handle, 'basalt_nbd_connection_ops_total', 'op="read"')).toEqual(['basalt_nbd_connection_ops_total{connection="7",volume="vol",op="read"} 3']);
    expect(await samples(handle, 'basalt_nbd_bytes_total', 'op="read"')).toEqual(['basalt_nbd_bytes_total{volume="vol",op="read"} 69632']);
    expect(await samples(handle, 'basalt_nbd_errors_total', 'errno="22"')).toEqual(['basalt_nbd_errors_total{volume="vol",op="read",errno="22"} 1']);
  });

  it('drops the per-connection series of a closed connection and keeps the per-volume ones', async () => {
    const m = new AgentMetrics({ defaultMetrics: false });
    m.connectionOpened('vol');
    m.connectionOpened('vol');
    const a = m.forConnection('1', 'vol');
    const b = m.forConnection('2', 'vol');
    a.record('read', 4096, 0.001, 0);
    a.record('write', 4096, 0.001, 5);
    b.record('read', 4096, 0.001, 0);
    m.connectionClosed('1', 'vol');
    expect(await samples(m, 'connection="1"')).toEqual([]);
    expect(await samples(m, 'basalt_nbd_connection_ops_total', 'connection="2"')).toEqual(['basalt_nbd_connection_ops_total{connection="2",volume="vol",op="read"} 1']);
    expect(await samples(m, 'basalt_nbd_ops_total', 'op="read"')).toEqual(['basalt_nbd_ops_total{volume="vol",op="read"} 2']);
    expect(await samples(m, 'basalt_nbd_connections{')).toEqual(['basalt_nbd_connections{volume="vol"} 1']);
  });

  it('exports at most limits.metricsVolumesMax volumes and sums the others under _other', async () => {
    const m = new AgentMetrics({ defaultMetrics: false });
    const count = limits.metricsVolumesMax + 3;
    for (let i = 0; i < count; i++) m.forConnection(String(i), `vol${i}`).record('read', 4096, 0.001, 0);
    const lines = await samples(m, 'basalt_nbd_ops_total{');
    expect(lines).toHaveLength(limits.metricsVolumesMax + 1);
    expect(lines).toContain('basalt_nbd_ops_total{volume="vol0",op="read"} 1');
    expect(lines).toContain('basalt_nbd_ops_total{volume="_other",op="read"} 3');
  });
});
