import { describe, expect, it } from 'vitest';
import type { Entry, Snapshot } from '@basalt/raft';
import { GiB, MiB, limits } from '@basalt/stdx';
import { raftpb } from '@basalt/wire';
import { MetaState, decodeCommand } from '../state/index.js';
import { must, registerServers } from '../state/test-fixtures.js';
import { planApply } from './deferred-apply.js';
import type { PersistedLog } from './log-store.js';
import { MemoryDisk } from './memory-log-store.js';
import { RecordingStore, openTestHost } from './raft-host-fixtures.js';
import type { RaftHost } from './raft-host.js';

const volumes = 10 * limits.metaSnapshotSliceVolumes + 1;
const last = `pvc-${volumes - 1}`;
const conf = { voters: ['m1'], learners: [] };

/** A state with many volumes, as the snapshot a one-member cluster restarts from (index 1). */
function seeded(): { state: MetaState; disk: MemoryDisk } {
  const state = MetaState.empty();
  registerServers(state, [{ id: 'a', zone: 'z1' }, { id: 'b', zone: 'z2' }, { id: 'c', zone: 'z3' }]);
  for (let v = 0; v < volumes; v++) must(state, { type: 'createVolume', name: `pvc-${v}`, sizeBytes: 1 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 2, nowMs: 1 });
  const data = raftpb.SnapshotData.encode({ members: [{ id: 'm1', address: '127.0.0.1:1' }], state: state.encodeSnapshot() }).finish();
  const disk = new MemoryDisk();
  const log: PersistedLog = { hardState: { term: 1, vote: 'm1', commit: 1 }, snapshot: { meta: { index: 1, term: 1, conf }, data }, entries: [] };
  disk.current = log;
  disk.synced = log;
  return { state, disk };
}

/** The seeded state with the commands of the log entries up to `index` applied. */
function replay(base: MetaState, entries: readonly Entry[], index: number): string {
  const state = MetaState.decodeSnapshot(base.encodeSnapshot());
  for (const e of entries) if (e.index <= index && e.type === 'Normal' && e.data.length > 0) state.apply(decodeCommand(e.data));
  return state.hash();
}

describe('RaftHost snapshots of a large state', () => {
  it('keep the event loop turning and defer the entries committed meanwhile: applied after it, in order, and the snapshot is the state at its index', async () => {
    const { state: base, disk } = seeded();
    const store = new RecordingStore(disk);
    let turns = 0;
    let counting = false;
    const countTurns = (): void => {
      turns += 1;
      if (counting) setImmediate(countTurns);
    };
    const during: Promise<number>[] = [];
    const resolvedOrder: number[] = [];
    const turnsAtResolution: number[] = [];
    let snapshotLine = '';
    const opened: { host?: RaftHost } = {};
    const startDuring = (): void => {
      for (let i = 0; i < 5; i++) {
        const p = (opened.host as RaftHost).propose({ type: 'setLabel', name: last, key: 'k', value: `during-${i}` }).then((r) => {
          expect(r.ok).toBe(true);
          resolvedOrder.push(i);
          turnsAtResolution.push(turns);
          return i;
        });
        during.push(p);
      }
    };
    const host = await openTestHost(store, { tickMs: 10, snapshotEntries: 3, log: (line) => {
      if (line.endsWith('started') && during.length === 0) {
        counting = true;
        setImmediate(countTurns);
        startDuring();
      }
      if (/snapshot at index \d+ \(/.test(line) && snapshotLine === '') {
        snapshotLine = line;
        counting = false;
      }
    } });
    opened.host = host;
    try {
      for (let i = 0; i < 500 && !host.isLeader; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(host.isLeader).toBe(true);
      for (let i = 0; i < 3; i++) expect((await host.propose({ type: 'setLabel', name: last, key: 'k', value: `before-${i}` })).ok).toBe(true);
      expect(during).toHaveLength(5);
      await Promise.all(during);
      for (let i = 0; i < 500 && snapshotLine === ''; i++) await new Promise((resolve) => setTimeout(resolve, 10));

      // The encode took a turn of the event loop per slice, and other callbacks ran in each.
      const slices = Number(/in (\d+) slices/.exec(snapshotLine)?.[1]);
      expect(slices).toBeGreaterThanOrEqual(volumes / limits.metaSnapshotSliceVolumes);
      expect(turns).toBeGreaterThanOrEqual(slices - 1);

      // Entries were committed and stored while it was encoded, and applied after it, in order.
      const first = store.commits[0];
      expect(first).toBeDefined();
      expect(first!.lastSaved).toBeGreaterThan(first!.meta.index);
      expect(resolvedOrder).toEqual([0, 1, 2, 3, 4]);
      expect(Math.min(...turnsAtResolution)).toBeGreaterThanOrEqual(slices - 1);

      // The snapshot is the state at its index, not later.
      const entries = disk.current.entries;
      const snapshotState = MetaState.decodeSnapshot(raftpb.SnapshotData.decode(disk.current.snapshot.data).state);
      const index = disk.current.snapshot.meta.index;
      expect(snapshotState.hash()).toBe(replay(base, entries, index));
      if (index === first!.meta.index) expect(snapshotState.hash()).not.toBe(replay(base, entries, first!.lastSaved));
      expect(host.readStale((s) => s.hash())).toBe(replay(base, entries, Number.POSITIVE_INFINITY));
    } finally {
      await host.close();
    }
  }, 60_000);
});

describe('planApply', () => {
  const entry = (index: number, type: Entry['type']): Entry => ({ index, term: 1, type, data: new Uint8Array(0) });
  const snapshot: Snapshot = { meta: { index: 9, term: 1, conf }, data: new Uint8Array(0) };

  it('applies at once when no snapshot is encoding', () => {
    expect(planApply(false, { committedEntries: [entry(1, 'ConfChange')], snapshot })).toBe('apply');
  });

  it('defers commands while a snapshot is encoding', () => {
    expect(planApply(true, { committedEntries: [entry(1, 'Normal'), entry(2, 'Normal')] })).toBe('defer');
    expect(planApply(true, { committedEntries: [] })).toBe('defer');
  });

  it('cancels the encode for a conf change or a received snapshot, which are applied in log order now', () => {
    expect(planApply(true, { committedEntries: [entry(1, 'Normal'), entry(2, 'ConfChange')] })).toBe('cancel');
    expect(planApply(true, { committedEntries: [], snapshot })).toBe('cancel');
  });
});
