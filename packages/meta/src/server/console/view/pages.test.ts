import { describe, expect, it } from 'vitest';
import type { ClusterSnapshot, VolumeSnapshot } from './model.js';
import { clusterPage, serversPage, volumePage, volumesPage } from './pages.js';
import { page } from './html.js';

const nowMs = Date.UTC(2026, 0, 1, 12, 0, 0);
const volume = {
  name: 'v1', sizeBytes: 2 ** 30, extentSizeBytes: 64 * 2 ** 20, extentCount: 16, allocatedExtents: 2, replicationFactor: 3,
  writer: 'host/7', generation: 4, labels: { note: '<script>alert(1)</script>' }, degradedExtents: 1,
};
const cluster: ClusterSnapshot = {
  nowMs, clusterName: 'basalt', self: 'm1', leaderId: 'm1', term: 3,
  members: [{ id: 'm1', address: '127.0.0.1:7100', role: 'leader', term: 3, commitIndex: 9, appliedIndex: 9, learner: false }],
  servers: [
    { id: 'c1', address: '127.0.0.1:7120', zone: 'zone-a', state: 'up', capacityBytes: 2 ** 40, freeBytes: 2 ** 39, extentCount: 2, lastHeartbeatMs: nowMs - 1000 },
    { id: 'c2', address: '127.0.0.1:7121', zone: 'zone-b', state: 'down', capacityBytes: 2 ** 40, freeBytes: 2 ** 39, extentCount: 2, lastHeartbeatMs: nowMs - 9000 },
  ],
  volumes: [volume], degradedTotal: 1, repair: undefined,
};

describe('console pages', () => {
  it('say the cluster is degraded while a server is down, and show repairs only when metad reports them', () => {
    const html = clusterPage(cluster);
    expect(html).toContain('<dd data-field="health" class="state state-degraded">degraded</dd>');
    expect(html).toContain('<dd data-field="servers-up">1 of 2</dd>');
    expect(html).not.toContain('Repairs');
    const repairing = clusterPage({ ...cluster, repair: { degradedExtents: 1, criticalExtents: 0, rebuildingReplicas: 1, waitingExtents: 0, bytesLeft: 32 * 2 ** 20, rateBytesPerSec: 2 ** 20, etaSeconds: 32 } });
    expect(repairing).toContain('<dd data-field="repair-left">32 MiB</dd>');
    expect(repairing).toContain('<dd data-field="repair-eta">32 s</dd>');
  });

  it('mark each server state in a cell tests and styles can find', () => {
    expect(serversPage(cluster)).toContain('<td data-col="state" class="state state-down">down</td>');
    expect(serversPage(cluster)).toContain('<td data-col="heartbeat">9 s ago</td>');
  });

  it('escape what operators typed (labels) and link each volume to its page', () => {
    const html = volumesPage(cluster);
    expect(html).toContain('note=&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('<a href="/volumes/v1">v1</a>');
    expect(html).toContain('<td data-col="allocated">128 MiB (2 of 16 extents)</td>');
  });

  it('show a volume\'s extents with the state of each replica, and its rates when sampled', () => {
    const snap: VolumeSnapshot = {
      nowMs, volume, extents: [{ index: 3, epoch: 2, primary: 'c1', replicas: ['c1', 'c2'] }], serverStates: new Map([['c1', 'up'], ['c2', 'down']]),
      rates: [], sampling: false, sampleIntervalMs: 5_000, samplesMax: 60,
    };
    const html = volumePage(snap);
    expect(html).toContain('<td data-col="offset">192 MiB</td>');
    expect(html).toContain('c2 <span class="state state-down">(down)</span>');
    expect(html).toContain('No agent metrics are sampled');
    const sampled = volumePage({ ...snap, sampling: true, rates: [{ atMs: nowMs, iops: 12.5, readBytesPerSec: 2 ** 20, writeBytesPerSec: 0, meanLatencyMs: 0.75 }] });
    expect(sampled).toContain('<dd data-field="iops">12.5</dd>');
    expect(sampled).toContain('IOPS per 5 s interval over the last 5 min, peak 12.5');
  });

  it('frame a page so that it polls for its own fragment, and stays usable without JavaScript', () => {
    const html = page({ title: 'Volumes', nav: '/volumes', refreshMs: 1000 }, '<table></table>');
    expect(html).toMatch(/<main id="live" data-refresh-ms="1000">\n<table><\/table>\n<\/main>/);
    expect(html).toContain('<a href="/volumes" aria-current="page">Volumes</a>');
    expect(html).toContain("fragment=1");
    expect(html).not.toMatch(/<(link|script)[^>]+(src|href)=/);
  });
});
