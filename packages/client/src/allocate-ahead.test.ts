import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { limits, MiB } from '@basalt/stdx';
import type { DataConnection, ExtentRef, MetaClient } from '@basalt/wire';
import { allocateAheadIndex, aheadViolation, type AheadInput } from './allocate-ahead.js';
import type { ConnectionPool } from './connection-pool.js';
import { Volume } from './volume.js';

const extent = 64 * MiB;
const w = (previousEnd: number, offset: number, length: number, volumeSizeBytes = 4 * extent): AheadInput => ({ previousEnd, offset, length, extentSizeBytes: extent, volumeSizeBytes, aheadBytes: 16 * MiB });

describe('allocation ahead of a sequential writer (the decision)', () => {
  it('asks for the next extent when a write continuing the previous one reaches the last ahead bytes of its extent', () => {
    expect(allocateAheadIndex(w(47 * MiB, 47 * MiB, MiB))).toBe(undefined); // ends 16 MiB before the end: not yet
    expect(allocateAheadIndex(w(48 * MiB, 48 * MiB, MiB))).toBe(1);
    expect(allocateAheadIndex(w(extent - MiB, extent - MiB, MiB))).toBe(1);
    expect(allocateAheadIndex(w(extent + 60 * MiB, extent + 60 * MiB, MiB))).toBe(2);
  });

  it('asks for nothing on a write that does not continue the previous one, on the first write, and past the last extent', () => {
    expect(allocateAheadIndex(w(10 * MiB, 60 * MiB, MiB))).toBe(undefined);
    expect(allocateAheadIndex(w(-1, 60 * MiB, MiB))).toBe(undefined);
    expect(allocateAheadIndex(w(3 * extent + 60 * MiB, 3 * extent + 60 * MiB, MiB))).toBe(undefined);
    // A volume whose size is not whole extents: its last, partial extent is still inside.
    expect(allocateAheadIndex(w(60 * MiB, 60 * MiB, MiB, extent + 4096))).toBe(1);
  });

  it('starts no earlier than half an extent before its end, for small extents', () => {
    const small = (offset: number): AheadInput => ({ previousEnd: offset, offset, length: 4096, extentSizeBytes: MiB, volumeSizeBytes: 8 * MiB, aheadBytes: 16 * MiB });
    expect(allocateAheadIndex(small(MiB / 2 - 8192))).toBe(undefined);
    expect(allocateAheadIndex(small(MiB / 2))).toBe(1);
  });

  it('keeps its invariants for any write (property)', () => {
    const input = fc.record({
      extentSizeBytes: fc.constantFrom(MiB, 4 * MiB, 64 * MiB),
      extents: fc.integer({ min: 1, max: 64 }),
      tail: fc.integer({ min: 0, max: MiB }),
      offset: fc.nat({ max: 2 ** 32 }),
      length: fc.integer({ min: 1, max: 32 * MiB }),
      sequential: fc.boolean(),
      previousEnd: fc.integer({ min: -1, max: 2 ** 32 }),
      aheadBytes: fc.integer({ min: 0, max: 64 * MiB }),
    }).map((r): AheadInput => {
      const volumeSizeBytes = r.extents * r.extentSizeBytes + r.tail;
      const offset = r.offset % volumeSizeBytes;
      const length = Math.min(r.length, volumeSizeBytes - offset);
      return { offset, length, previousEnd: r.sequential ? offset : r.previousEnd, extentSizeBytes: r.extentSizeBytes, volumeSizeBytes, aheadBytes: r.aheadBytes };
    });
    fc.assert(fc.property(input, (i) => aheadViolation(i, allocateAheadIndex(i)) === undefined), { numRuns: 2000 });
  });

  it('the invariant check catches decisions that break it', () => {
    const seq = w(60 * MiB, 60 * MiB, MiB);
    expect(aheadViolation(seq, 2)).toMatch(/allocates extent 2 for a write ending in extent 0/);
    expect(aheadViolation(w(3 * extent + 60 * MiB, 3 * extent + 60 * MiB, MiB), 4)).toMatch(/past the volume's end/);
    expect(aheadViolation(w(0, 60 * MiB, MiB), 1)).toMatch(/does not continue/);
    expect(aheadViolation(w(MiB, MiB, MiB), 1)).toMatch(/far from its extent's end/);
    expect(aheadViolation(seq, undefined)).toBe(undefined);
  });
});

/** A volume of small extents on a fake cluster that records metad's AllocateExtent calls. */
function fakeVolume(extentSizeBytes: number, extents: number, options: { failFirstAllocationOf?: number; allocateAhead?: boolean } = {}) {
  const allocated = new Set<number>();
  const calls: number[] = [];
  const extentOf = (index: number) => ({ index, epoch: 1, primary: 's1', replicas: [{ serverId: 's1', address: 'fake:1' }] });
  const meta = {
    call: (method: string, req: { index?: number }): Promise<unknown> => {
      if (method === 'getExtentMap') return Promise.resolve({ extents: [...allocated].map(extentOf) });
      if (method === 'allocateExtent') {
        const index = req.index ?? 0;
        calls.push(index);
        if (index === options.failFirstAllocationOf && calls.filter((i) => i === index).length === 1) return Promise.reject(new Error('metad is away'));
        allocated.add(index);
        return Promise.resolve({ extent: extentOf(index) });
      }
      throw new Error(`unexpected metad call ${method}`);
    },
  } as unknown as MetaClient;
  const written: { index: number; offset: number }[] = [];
  const conn = {
    write: (ref: ExtentRef, offset: number) => {
      written.push({ index: ref.index, offset });
      return Promise.resolve({ epoch: 1, version: 0, state: 'ok' });
    },
  } as unknown as DataConnection;
  const pool = { ready: () => conn, get: () => Promise.resolve(conn) } as unknown as ConnectionPool;
  const volume = new Volume({ id: 1, name: 'v', sizeBytes: extents * extentSizeBytes, extentSizeBytes, replicationFactor: 1 }, { meta, pool, onEvent: () => undefined, lease: { clientId: 'agent', generation: 1 }, allocateAhead: options.allocateAhead ?? true });
  return { volume, calls, written };
}

describe('allocation ahead in the writer', () => {
  const extentSizeBytes = MiB;
  const piece = Buffer.alloc(128 * 1024, 7);

  it('a writer going through the volume in order asks for each next extent before writing there, once', async () => {
    const { volume, calls } = fakeVolume(extentSizeBytes, 3);
    for (let at = 0; at < 3 * extentSizeBytes; at += piece.length) {
      await volume.write(at, piece);
      const index = Math.floor(at / extentSizeBytes);
      // Past the middle of extent i, extent i + 1 was asked for (the last extent has no next).
      if (at + piece.length > index * extentSizeBytes + extentSizeBytes / 2 && index < 2) expect(calls).toContain(index + 1);
    }
    expect(calls).toEqual([0, 1, 2]);
    expect(limits.clientAllocateAheadBytes).toBeGreaterThan(extentSizeBytes / 2); // so half an extent is the window here
  });

  it('a volume opened without allocateAhead allocates only the extents it writes, also in order', async () => {
    const { volume, calls } = fakeVolume(extentSizeBytes, 3, { allocateAhead: false });
    for (let at = 0; at < 2 * extentSizeBytes; at += piece.length) await volume.write(at, piece);
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([0, 1]);
  });

  it('random writes allocate only the extents they write', async () => {
    const { volume, calls } = fakeVolume(extentSizeBytes, 4);
    await volume.write(3 * extentSizeBytes - piece.length, piece); // the tail of extent 2, not after a write
    await volume.write(extentSizeBytes - piece.length, piece); // the tail of extent 0, not after the previous write
    expect(calls.sort()).toEqual([0, 2]);
  });

  it('a failed allocation ahead fails no write: the first write into that extent asks again', async () => {
    const { volume, calls, written } = fakeVolume(extentSizeBytes, 2, { failFirstAllocationOf: 1 });
    await volume.write(extentSizeBytes - 2 * piece.length, piece);
    await volume.write(extentSizeBytes - piece.length, piece); // reaches the end of extent 0: asks for extent 1, which fails
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([0, 1]);
    await volume.write(extentSizeBytes, piece);
    expect(calls).toEqual([0, 1, 1]);
    expect(written.map((x) => x.index)).toEqual([0, 0, 1]);
  });
});
