import { GiB, limits, MiB } from '@basalt/stdx';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { MetaState } from './meta-state.js';
import { must, registerServers } from './test-fixtures.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Live heap bytes after a full collection. */
function liveHeapBytes(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function withServers(): MetaState {
  const state = MetaState.empty();
  registerServers(state, Array.from({ length: 100 }, (_, i) => ({ id: `chunk-${String(i).padStart(3, '0')}`, zone: `zone-${i % 3}`, capacityBytes: 100_000 * GiB })));
  return state;
}

function create(state: MetaState, name: string): void {
  must(state, { type: 'createVolume', name, sizeBytes: 64 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 1 });
}

describe('metad state at scale', () => {
  it('lists volumes in pages by name: every volume once, in order, while volumes come and go between pages', () => {
    const state = withServers();
    for (let v = 0; v < 2500; v++) create(state, `pvc-${(v * 7919) % 2500}`);
    const seen: string[] = [];
    let after = '';
    let pages = 0;
    do {
      const page = state.listVolumesPage(after, 1000);
      expect(page.volumes.length).toBeLessThanOrEqual(1000);
      seen.push(...page.volumes.map((v) => v.name));
      after = page.nextAfter;
      pages += 1;
      if (pages === 1) {
        must(state, { type: 'deleteVolume', name: 'pvc-999', force: false });
        create(state, 'pvc-2500');
        create(state, 'a-volume-before-the-token');
      }
    } while (after !== '');
    expect(pages).toBe(3);
    const expected = state.listVolumes().map((v) => v.name).filter((n) => n !== 'a-volume-before-the-token');
    expect(seen).toEqual(expected);
    expect(seen).toEqual([...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(state.listVolumesPage('zzz', 10)).toEqual({ volumes: [], nextAfter: '' });
    state.checkInvariants();
  });

  it(`holds ${limits.volumesMax} volumes within metad's budget: bytes per volume and per extent are bounded`, () => {
    const state = withServers();
    const volumes = 20_000;
    const extentsPerVolume = 10;
    const before = liveHeapBytes();
    for (let v = 0; v < volumes; v++) create(state, `pvc-${v}`);
    const afterVolumes = liveHeapBytes();
    for (let v = 0; v < volumes; v++) for (let i = 0; i < extentsPerVolume; i++) must(state, { type: 'allocateExtent', name: `pvc-${v}`, index: i });
    const afterExtents = liveHeapBytes();
    const perVolume = (afterVolumes - before) / volumes;
    const perExtent = (afterExtents - afterVolumes) / (volumes * extentsPerVolume);
    const snapshotPerVolume = state.encodeSnapshot().length / volumes;
    console.log(`${volumes} volumes: ${perVolume.toFixed(0)} heap bytes per volume, ${perExtent.toFixed(0)} per extent, snapshot ${snapshotPerVolume.toFixed(0)} bytes per volume with ${extentsPerVolume} extents`);
    // Budget: metad within 256 MiB of RSS with volumesMax volumes of 10 extents each (a million
    // extents); the state may take 160 MiB of it, the rest is Node, the Raft log and the replies.
    expect(perVolume).toBeLessThan(700);
    expect(perExtent).toBeLessThan(120);
    expect(limits.volumesMax * (perVolume + extentsPerVolume * perExtent)).toBeLessThan(160 * MiB);
    expect(snapshotPerVolume).toBeLessThan(400);
  });
});
