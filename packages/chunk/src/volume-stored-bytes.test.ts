import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { limits } from '@basalt/stdx';
import { volumeBytesOnDisk } from './chunkd.js';
import { ChunkMetrics } from './server/metrics.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-volume-bytes-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('per-volume stored bytes of a chunk server', () => {
  it('counts the allocated blocks of each volume folder, not the apparent size of sparse files', () => {
    fs.mkdirSync(path.join(dir, 'extents', '5'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'extents', '9'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'extents', '5', '0.extent'), Buffer.alloc(64 * 1024, 1));
    const sparse = fs.openSync(path.join(dir, 'extents', '9', '3.extent'), 'w');
    fs.ftruncateSync(sparse, 64 * 1024 * 1024);
    fs.closeSync(sparse);
    const bytes = volumeBytesOnDisk(dir);
    expect(bytes.get(5)).toBeGreaterThanOrEqual(64 * 1024);
    expect(bytes.get(9)).toBe(0);
  });

  it('exports one series per volume id up to the cap and sums the rest', async () => {
    const m = new ChunkMetrics();
    const byId = new Map(Array.from({ length: limits.metricsVolumesMax + 2 }, (_, i) => [i + 1, 100] as const));
    m.setVolumeStoredBytes(byId);
    const lines = (await m.registry.metrics()).split('\n').filter((l) => l.startsWith('basalt_chunk_volume_stored_bytes{'));
    expect(lines).toHaveLength(limits.metricsVolumesMax + 1);
    expect(lines).toContain('basalt_chunk_volume_stored_bytes{volume_id="1"} 100');
    expect(lines).toContain('basalt_chunk_volume_stored_bytes{volume_id="_other"} 200');
    m.setVolumeStoredBytes(new Map([[1, 50]]));
    expect((await m.registry.metrics()).split('\n').filter((l) => l.startsWith('basalt_chunk_volume_stored_bytes{'))).toEqual(['basalt_chunk_volume_stored_bytes{volume_id="1"} 50']);
  });
});
