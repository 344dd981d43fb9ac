import { describe, expect, it } from 'vitest';
import { limits, MiB } from '@basalt/stdx';
import type { DataConnection, ExtentRef, MetaClient } from '@basalt/wire';
import type { ConnectionPool } from './connection-pool.js';
import { Volume } from './volume.js';

const block = limits.checksumBlockBytes;
const extentSizeBytes = 1 * MiB;
const fill = (byte: number): Buffer => Buffer.alloc(block, byte);

/**
 * One chunk server in memory for a clone (volume 2, one extent) and its parent's snapshot
 * (volume 1, snapshot 1): blocks by volume, which of the clone's blocks were written (what
 * SNAPSHOT_DIFF from nothing answers), and a gate that holds the parent's snapshot reads.
 */
class FakeCluster {
  readonly blocks = new Map<number, Map<number, Buffer>>([[1, new Map()], [2, new Map()]]);
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  parentReadStarted: Promise<void>;
  private started!: () => void;
  private cloneAllocated = false;

  constructor() {
    this.parentReadStarted = new Promise((r) => (this.started = r));
  }

  holdParentReads(): void {
    this.gate = new Promise((r) => (this.open = r));
  }

  releaseParentReads(): void {
    this.open?.();
  }

  private extent(index: number) {
    return { index, epoch: 1, primary: 's1', replicas: [{ serverId: 's1', address: 'fake:1' }] };
  }

  readonly meta = {
    call: (method: string, req: { volume?: string; index?: number }): Promise<unknown> => {
      if (method === 'getExtentMap') return Promise.resolve({ extents: req.volume === 'src' || this.cloneAllocated ? [this.extent(0)] : [] });
      if (method === 'allocateExtent') {
        this.cloneAllocated = true;
        return Promise.resolve({ extent: this.extent(req.index ?? 0) });
      }
      throw new Error(`unexpected metad call ${method}`);
    },
  } as unknown as MetaClient;

  private read(volumeId: number, offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let at = offset; at < offset + length; at += block) this.blocks.get(volumeId)!.get(at / block)?.copy(out, at - offset);
    return out;
  }

  private readonly conn = {
    write: (ref: ExtentRef, offset: number, data: Buffer) => {
      for (let at = 0; at < data.length; at += block) this.blocks.get(ref.volumeId)!.set((offset + at) / block, Buffer.from(data.subarray(at, at + block)));
      return Promise.resolve({ epoch: 1, version: 0, state: 'ok' });
    },
    flush: () => Promise.resolve({ epoch: 1, version: 0, state: 'ok' }),
    read: (ref: ExtentRef, offset: number, length: number) => Promise.resolve({ data: this.read(ref.volumeId, offset, length) }),
    snapshotRead: async (ref: ExtentRef, _id: number, offset: number, length: number) => {
      this.started();
      await this.gate;
      return { data: this.read(ref.volumeId, offset, length) };
    },
    snapshotDiff: (ref: ExtentRef, _from: number, _to: number, offset: number, length: number) =>
      Promise.resolve([...this.blocks.get(ref.volumeId)!.keys()].filter((b) => b * block >= offset && b * block < offset + length)),
  } as unknown as DataConnection;

  readonly pool = { ready: () => this.conn, get: () => Promise.resolve(this.conn) } as unknown as ConnectionPool;

  clone(): Volume {
    const common = { meta: this.meta, pool: this.pool, onEvent: () => undefined };
    const parent = new Volume({ id: 1, name: 'src', sizeBytes: extentSizeBytes, extentSizeBytes, replicationFactor: 1 }, { ...common, lease: undefined, at: { id: 1, extents: new Set([0]) } });
    return new Volume({ id: 2, name: 'clone', sizeBytes: extentSizeBytes, extentSizeBytes, replicationFactor: 1 }, { ...common, lease: { clientId: 'agent', generation: 1 }, parent });
  }
}

describe('a background flatten in the writer', () => {
  it('copies what the clone never wrote and never lands over a block the clone writes while the copy reads its parent', async () => {
    const cluster = new FakeCluster();
    for (const b of [5, 7, 9]) cluster.blocks.get(1)!.set(b, fill(0xaa));
    const clone = cluster.clone();
    await clone.write(7 * block, fill(0xcc)); // written before the flatten: not copied over

    cluster.holdParentReads();
    const reports: number[] = [];
    const flattening = clone.flattenInBackground(0, new AbortController().signal, (done) => {
      reports.push(done);
      return Promise.resolve(true);
    });
    // The copy has read which blocks the clone wrote and waits for its parent's data: the clone
    // now writes block 5, which the copy is about to fill from the parent.
    await cluster.parentReadStarted;
    const writing = clone.write(5 * block, fill(0xbb));
    cluster.releaseParentReads();
    expect(await flattening).toBe(true);
    await writing;

    const clones = cluster.blocks.get(2)!;
    expect(clones.get(5)).toEqual(fill(0xbb));
    expect(clones.get(7)).toEqual(fill(0xcc));
    expect(clones.get(9)).toEqual(fill(0xaa));
    // Blocks the parent holds as zeros (never written) are not written to the clone.
    expect([...clones.keys()].sort((a, b) => a - b)).toEqual([5, 7, 9]);
    expect(reports).toEqual([extentSizeBytes]);
  });

  it('stops when the report answers false (the request was withdrawn) or the signal aborts', async () => {
    const cluster = new FakeCluster();
    cluster.blocks.get(1)!.set(3, fill(0xaa));
    const clone = cluster.clone();
    expect(await clone.flattenInBackground(0, new AbortController().signal, () => Promise.resolve(false))).toBe(false);
    const aborted = new AbortController();
    aborted.abort();
    expect(await clone.flattenInBackground(1, aborted.signal, () => Promise.resolve(true))).toBe(false);
  });
});
