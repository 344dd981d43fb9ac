import { describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { ClientMetrics, worsePath } from './client-metrics.js';

async function samples(m: ClientMetrics, ...parts: string[]): Promise<string[]> {
  const text = await m.registry.metrics();
  return text.split('\n').filter((l) => !l.startsWith('#') && parts.every((p) => l.includes(p)));
}

describe('SDK per-volume metrics', () => {
  it('counts ops, bytes and latency by volume and op, and failures by code', async () => {
    const m = new ClientMetrics();
    m.record('vol', 'write', 8192, 0.002);
    m.record('vol', 'write', 4096, 0.001);
    m.record('vol', 'flush', 0, 0.01);
    m.record('vol', 'read', 4096, 0.0005, new BasaltError(ErrorCode.Timeout, 'x'));
    expect(await samples(m, 'basalt_client_ops_total{')).toEqual(['basalt_client_ops_total{volume="vol",op="write"} 2', 'basalt_client_ops_total{volume="vol",op="flush"} 1']);
    expect(await samples(m, 'basalt_client_bytes_total{')).toEqual(['basalt_client_bytes_total{volume="vol",op="write"} 12288']);
    expect(await samples(m, 'basalt_client_op_duration_seconds_count{', 'op="write"')).toEqual(['basalt_client_op_duration_seconds_count{volume="vol",op="write"} 2']);
    expect(await samples(m, 'basalt_client_errors_total{')).toEqual([`basalt_client_errors_total{volume="vol",op="read",code="${ErrorCode.Timeout}"} 1`]);
  });

  it('exports at most limits.metricsVolumesMax volumes and sums the others under _other', async () => {
    const m = new ClientMetrics();
    for (let i = 0; i < limits.metricsVolumesMax + 2; i++) m.record(`v${i}`, 'read', 512, 0.001);
    const lines = await samples(m, 'basalt_client_ops_total{');
    expect(lines).toHaveLength(limits.metricsVolumesMax + 1);
    expect(lines).toContain('basalt_client_ops_total{volume="_other",op="read"} 2');
  });

  it('counts mutation requests by the path they took, the worst thing that happened naming it', async () => {
    const m = new ClientMetrics();
    m.recordMutation('vol', 'plain', 0.001);
    m.recordMutation('vol', worsePath('resent', 'stale_epoch'), 0.05);
    m.recordMutation('vol', worsePath('failover', 'set_changed'), 0.2);
    expect(await samples(m, 'basalt_client_mutation_duration_seconds_count{')).toEqual([
      'basalt_client_mutation_duration_seconds_count{volume="vol",path="plain"} 1',
      'basalt_client_mutation_duration_seconds_count{volume="vol",path="stale_epoch"} 1',
      'basalt_client_mutation_duration_seconds_count{volume="vol",path="failover"} 1',
    ]);
    expect(await samples(m, 'basalt_client_mutation_duration_seconds_bucket{', 'path="stale_epoch"', 'le="0.032"')).toEqual(['basalt_client_mutation_duration_seconds_bucket{le="0.032",volume="vol",path="stale_epoch"} 0']);
  });
});
