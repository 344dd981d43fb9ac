import { describe, expect, it } from 'vitest';
import { renderTop, type TopSnapshot } from './top-view.js';

const snap: TopSnapshot = {
  nowMs: Date.UTC(2026, 0, 1, 12, 0, 0),
  leaderId: 'm2', term: 4,
  servers: [
    { id: 'c1', zone: 'zone-a', state: 'up', capacityBytes: 100 * 2 ** 30, freeBytes: 90 * 2 ** 30, extentCount: 3, lastHeartbeatMs: Date.UTC(2026, 0, 1, 11, 59, 59) },
    { id: 'c2', zone: 'zone-b', state: 'down', capacityBytes: 100 * 2 ** 30, freeBytes: 50 * 2 ** 30, extentCount: 7, lastHeartbeatMs: Date.UTC(2026, 0, 1, 11, 59, 0) },
  ],
  volumes: [
    { name: 'quiet', sizeBytes: 2 ** 30, allocatedBytes: 0, writer: '', degradedExtents: 0 },
    { name: 'busy', sizeBytes: 2 ** 30, allocatedBytes: 64 * 2 ** 20, writer: 'host/1', degradedExtents: 1 },
  ],
  rates: new Map([['quiet', { iops: 1, readBytesPerSec: 0, writeBytesPerSec: 0, meanLatencyMs: 9 }], ['busy', { iops: 250, readBytesPerSec: 2 ** 20, writeBytesPerSec: 0, meanLatencyMs: 0.5 }]]),
  degradedTotal: 1,
  ratesNote: '',
};

describe('basalt top screen', () => {
  it('lists volumes by IOPS and servers by used bytes, under a summary line', () => {
    const lines = renderTop(snap, 200, 50);
    expect(lines[0]).toBe('basalt top  12:00:00 UTC  leader m2 (term 4)  servers 1/2 up  volumes 2  degraded extents 1   q: quit');
    const names = lines.map((l) => l.split(' ')[0]);
    expect(names.indexOf('busy')).toBeLessThan(names.indexOf('quiet'));
    expect(names.indexOf('c2')).toBeLessThan(names.indexOf('c1'));
    expect(lines.find((l) => l.startsWith('busy'))).toMatch(/^busy\s+250\.0\s+1\.0 MiB\s+0 B\s+0\.50\s+1\.0 GiB\s+64 MiB\s+1\s+host\/1$/);
    expect(lines.find((l) => l.startsWith('c2'))).toMatch(/^c2\s+zone-b\s+down\s+50 GiB \(50%\)\s+100 GiB\s+7\s+60 s ago$/);
  });

  it('fits the terminal: no line wider than the columns, no more lines than the rows', () => {
    const lines = renderTop(snap, 30, 4);
    expect(lines).toHaveLength(4);
    expect(lines.every((l) => l.length <= 30)).toBe(true);
  });
});
