import { afterEach, describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import type { LogStore } from './log-store.js';
import { MemoryDisk } from './memory-log-store.js';
import { messageToPb } from './raft-codec.js';
import { RecordingStore, openTestHost } from './raft-host-fixtures.js';
import type { RaftHost } from './raft-host.js';

const hosts: RaftHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
});

async function open(store: LogStore, peers: string[], tickMs: number): Promise<RaftHost> {
  const host = await openTestHost(store, { peers, tickMs });
  hosts.push(host);
  return host;
}

/** A turn of the event loop (what `microtasks` below are not). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('RaftHost writes', () => {
  it('writes no batch for a Ready that only moves the commit index: its commit rides in the next write, and in close', async () => {
    const store = new RecordingStore(new MemoryDisk());
    const host = await open(store, ['m1'], 5);
    while (!host.isLeader) await new Promise((r) => setTimeout(r, 5));
    const indexes: number[] = [];
    for (let i = 0; i < 5; i++) {
      await host.propose({ type: 'createVolume', name: `v${i}`, sizeBytes: 64 * MiB, extentSizeBytes: 64 * MiB, replicationFactor: 1, nowMs: 1 });
      indexes.push(host.status().appliedIndex);
    }
    const after = store.saves.filter((s) => s.update.entries.some((e) => e.index > indexes[0]!));
    expect(after.length).toBeGreaterThan(0);
    for (const s of store.saves) expect(s.sync || s.update.entries.length > 0 || s.update.snapshot !== undefined).toBe(true);
    // Each later proposal's batch carries the commit of the one before it.
    for (const s of after) {
      const first = s.update.entries[0]!.index;
      expect(s.update.hardState?.commit).toBe(first - 1);
    }
    const saves = store.saves.length;
    await host.close();
    expect(store.saves.length).toBe(saves + 1);
    expect(store.disk.current.hardState.commit).toBe(indexes.at(-1));
  });

  it("a follower starts the synced write of a leader's append in the turn the append arrives", async () => {
    const store = new RecordingStore(new MemoryDisk());
    const host = await open(store, ['m1', 'm2', 'm3'], 60_000);
    for (let i = 0; i < 5; i++) await turn();
    const saves = store.saves.length;
    const append = messageToPb({
      type: 'MsgApp', from: 'm2', to: 'm1', term: 2, logTerm: 1, index: 3, commit: 3, reject: false, rejectHint: 0,
      entries: [{ term: 2, index: 4, type: 'Normal', data: new Uint8Array(0) }],
    });
    host.receive({ from: 'm2', cluster: 'test', fromAddress: '127.0.0.1:2', messages: [append], seq: 1, ackRequested: false } as Parameters<RaftHost['receive']>[0]);
    // Microtasks only (the log store's write queue is a promise chain), no turn of the event loop.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(store.saves.length).toBe(saves + 1);
    expect(store.saves.at(-1)?.sync).toBe(true);
    expect(store.saves.at(-1)?.update.entries.map((e) => e.index)).toEqual([4]);
  });
});
