import { crc32c } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isBasaltError, limits, MiB, Prng } from '@basalt/stdx';
import { pieceCrcs, type BlockStamps, type Stamp } from '@basalt/wire';
import type { ReplicaMeta } from '../replica/replica-meta.js';
import type { ExtentStore } from './extent-store.js';

/**
 * Tests every ExtentStore must pass (extent-store.ts states the semantics). `open()` returns a
 * store over the same durable state each time (a restart). `kill` ends a store as a killed
 * process does (no clean close, the page cache survives); `powerLoss` as a power loss does (the
 * next open must detect it; a store that can model it also loses unsynced writes, which only
 * its own tests check). `flipBit` changes one bit of stored data; `restamp` sets one block's
 * stored stamp while no store is open (after kill), as a crash between a write's data and its
 * stamp leaves the stamp of what the write overwrote; `openFull` opens the store on a disk with no
 * space left for new blocks.
 */
export interface ExtentStoreFactory {
  open(): Promise<ExtentStore>;
  kill(store: ExtentStore): Promise<void>;
  powerLoss(store: ExtentStore): Promise<void>;
  flipBit(volumeId: number, index: number, offset: number): Promise<void> | void;
  restamp(volumeId: number, index: number, block: number, stamp: Stamp): void;
  openFull(): Promise<ExtentStore>;
  cleanup(): Promise<void> | void;
}

const SEED = Number(process.env.SEED ?? 21);
const block = limits.checksumBlockBytes;
const size = 1 * MiB;
const V = 9;

function meta(index: number, epoch = 1): ReplicaMeta {
  return { volumeId: V, index, extentSizeBytes: size, epoch, replicas: [{ serverId: 'a', address: '127.0.0.1:1' }], version: 0, state: 'active' };
}

const st = (epoch: number, seq: number): Stamp => ({ epoch, seq });
const stampsOf = (...s: [number, number][]): BlockStamps => ({ epochs: Uint32Array.from(s.map((x) => x[0])), seqs: Uint32Array.from(s.map((x) => x[1])) });
const filled = (blocks: number, byte: number): Buffer => Buffer.alloc(blocks * block, byte);
const blockCrcs = (data: Buffer): Uint32Array => pieceCrcs(0, data);
const pairs = (s: BlockStamps): [number, number][] => Array.from(s.epochs, (e, i) => [e, s.seqs[i]!]);

export function extentStoreConformance(name: string, makeFactory: () => Promise<ExtentStoreFactory> | ExtentStoreFactory): void {
  describe(`ExtentStore conformance: ${name}`, () => {
    const withStore = (fn: (f: ExtentStoreFactory, s: ExtentStore) => Promise<void>) => async () => {
      const f = await makeFactory();
      const s = await f.open();
      await s.setMeta(meta(0));
      try {
        await fn(f, s);
      } finally {
        await f.cleanup();
      }
    };

    it('reads back writes and zeroes of any alignment against a model, and never-written bytes as zeros', withStore(async (_f, s) => {
      const prng = new Prng(SEED);
      const model = Buffer.alloc(size);
      const ops: Promise<void>[] = [];
      for (let i = 0; i < 120; i++) {
        const len = prng.int(1, prng.chance(0.3) ? 30_000 : 5000);
        const off = prng.int(0, size - len);
        if (prng.chance(0.2)) {
          model.fill(0, off, off + len);
          ops.push(s.zero(V, 0, off, len, st(1, i + 1)));
        } else {
          const data = Buffer.from(prng.fill(new Uint8Array(len)));
          data.copy(model, off);
          ops.push(s.write(V, 0, off, data, pieceCrcs(off, data), st(1, i + 1)));
        }
      }
      await Promise.all(ops);
      for (let i = 0; i < 40; i++) {
        const len = prng.int(1, 70_000);
        const off = prng.int(0, size - len);
        const got = await s.read(V, 0, off, len);
        expect(got.data.equals(model.subarray(off, off + len)), `SEED=${SEED} read ${off}+${len}`).toBe(true);
        expect(got.crcs).toEqual(pieceCrcs(off, got.data));
      }
    }));

    it('stamps every block a mutation touches with its stamp, and reports (0, 0) and the zero CRC for blocks never written', withStore(async (_f, s) => {
      const data = Buffer.alloc(2 * block + 100, 7);
      await s.write(V, 0, block - 50, data, pieceCrcs(block - 50, data), st(2, 5)); // touches blocks 0..3
      await s.zero(V, 0, 5 * block + 10, 20, st(2, 6)); // a partial block: block 5
      const out = await s.stamps(V, 0, 0, 8 * block, false);
      expect(pairs(out)).toEqual([[2, 5], [2, 5], [2, 5], [2, 5], [0, 0], [2, 6], [0, 0], [0, 0]]);
      const content = (await s.read(V, 0, 0, 8 * block)).data;
      for (let b = 0; b < 8; b++) expect(out.crcs[b], `block ${b}`).toBe(crc32c(content.subarray(b * block, (b + 1) * block)));
      expect(out.bad).toEqual([]);
      // A later mutation's stamp replaces the earlier one on the blocks it touches only.
      await s.write(V, 0, block, filled(1, 9), blockCrcs(filled(1, 9)), st(3, 1));
      expect(pairs(await s.stamps(V, 0, 0, 3 * block, true))).toEqual([[2, 5], [3, 1], [2, 5]]);
      await s.setMeta(meta(1));
      const empty = await s.stamps(V, 1, 0, 2 * block, true);
      expect([pairs(empty), Array.from(empty.crcs), empty.bad]).toEqual([[[0, 0], [0, 0]], [crc32c(Buffer.alloc(block)), crc32c(Buffer.alloc(block))], []]);
    }));

    it('hands out stamps that grow within an epoch, across a clean restart and a killed process, and restart at seq 1 in a new epoch', withStore(async (f, s) => {
      const first = [s.nextStamp(V, 0), s.nextStamp(V, 0), s.nextStamp(V, 0)];
      expect(first).toEqual([st(1, 1), st(1, 2), st(1, 3)]);
      await s.write(V, 0, 0, filled(1, 1), blockCrcs(filled(1, 1)), first[2]!);
      await s.close();
      const again = await f.open();
      const next = again.nextStamp(V, 0);
      expect(next.epoch).toBe(1);
      expect(next.seq).toBeGreaterThan(3);
      await f.kill(again);
      const third = await f.open();
      expect(third.nextStamp(V, 0).seq).toBeGreaterThan(next.seq);
      await third.setMeta(meta(0, 2));
      expect(third.nextStamp(V, 0)).toEqual(st(2, 1));
      await third.close();
    }));

    it('keeps data, metadata and stamps across a clean restart', withStore(async (f, s) => {
      const data = Buffer.from(new Prng(SEED).fill(new Uint8Array(3 * block + 17)));
      await s.write(V, 0, 4000, data, pieceCrcs(4000, data), st(1, 4));
      s.bumpVersion(V, 0);
      await s.raiseGeneration(V, 6);
      await s.close();
      const again = await f.open();
      expect(again.get(V, 0)).toMatchObject({ epoch: 1, version: 1, state: 'active' });
      expect(again.get(V, 0)?.suspect).toBeUndefined();
      expect(again.generation(V)).toBe(6);
      expect((await again.read(V, 0, 4000, data.length)).data.equals(data)).toBe(true);
      expect(pairs(await again.stamps(V, 0, 0, 6 * block, false))).toEqual([[1, 4], [1, 4], [1, 4], [1, 4], [0, 0], [0, 0]]);
      await again.close();
    }));

    it('keeps what was written, synced or not, when the process is killed, and trusts its stamps after', withStore(async (f, s) => {
      await s.write(V, 0, 0, filled(2, 3), blockCrcs(filled(2, 3)), st(1, 1));
      await f.kill(s);
      const again = await f.open();
      expect(again.get(V, 0)?.suspect).toBeUndefined();
      expect((await again.read(V, 0, 0, 2 * block)).data.equals(filled(2, 3))).toBe(true);
      expect(pairs(await again.stamps(V, 0, 0, 2 * block, false))).toEqual([[1, 1], [1, 1]]);
      await again.close();
    }));

    it('keeps across a power loss what a sync naming the extent made durable; a sync of an extent never written resolves', withStore(async (f, s) => {
      await s.write(V, 0, 0, filled(2, 4), blockCrcs(filled(2, 4)), st(1, 1));
      await s.sync({ volumeId: V, index: 0 });
      await s.sync({ volumeId: V, index: 5 });
      await f.powerLoss(s);
      const again = await f.open();
      expect((await again.read(V, 0, 0, 2 * block)).data.equals(filled(2, 4))).toBe(true);
      await again.close();
    }));

    it('marks replicas suspect after a power loss, keeps synced data, and settles a replica on its first stamps call', withStore(async (f, s) => {
      await s.write(V, 0, 0, filled(2, 3), blockCrcs(filled(2, 3)), st(1, 1));
      await s.sync();
      await f.powerLoss(s);
      const again = await f.open();
      expect(again.get(V, 0)?.suspect).toBe(true);
      expect((await again.read(V, 0, 0, 2 * block)).data.equals(filled(2, 3))).toBe(true);
      const out = await again.stamps(V, 0, 0, 2 * block, false);
      expect(pairs(out)).toEqual([[1, 1], [1, 1]]);
      expect(Array.from(out.crcs)).toEqual([crc32c(filled(1, 3)), crc32c(filled(1, 3))]);
      expect(again.get(V, 0)?.suspect).toBeUndefined();
      await again.close();
      const third = await f.open();
      expect(third.get(V, 0)?.suspect).toBeUndefined();
      await third.close();
    }));

    it('applies a copied block only when the local stamp is older than the floor epoch or the copied stamp is newer', withStore(async (_f, s) => {
      // Blocks 0-3 written before the member joined (epoch 4); block 2 and 3 again after (epoch 5, the floor).
      await s.write(V, 0, 0, filled(4, 1), blockCrcs(filled(4, 1)), st(4, 9));
      await s.write(V, 0, 2 * block, filled(2, 2), blockCrcs(filled(2, 2)), st(5, 3));
      const copied = Buffer.concat([filled(1, 10), filled(1, 11), filled(1, 12), filled(1, 13)]);
      // Block 0: older copied stamp, but the local one is from before the floor: the divergent old block is fixed.
      // Block 1: newer copied stamp: applied. Block 2: a copy older than the foreground write: kept.
      // Block 3: a newer copied stamp than the foreground write: applied.
      const applied = await s.copyBlocks(V, 0, 0, copied, blockCrcs(copied), stampsOf([4, 2], [5, 1], [5, 2], [5, 4]), 5);
      expect(applied).toBe(3);
      const got = (await s.read(V, 0, 0, 4 * block)).data;
      expect([0, 1, 2, 3].map((b) => got[b * block])).toEqual([10, 11, 2, 13]);
      expect(pairs(await s.stamps(V, 0, 0, 4 * block, true))).toEqual([[4, 2], [5, 1], [5, 3], [5, 4]]);
      // The same copy again applies only block 0, whose local stamp is still from before the floor.
      expect(await s.copyBlocks(V, 0, 0, copied, blockCrcs(copied), stampsOf([4, 2], [5, 1], [5, 2], [5, 4]), 5)).toBe(1);
    }));

    it('copies into an extent it never held, and readForCopy returns data, CRCs and stamps of one point', withStore(async (_f, s) => {
      await s.write(V, 0, block, filled(2, 4), blockCrcs(filled(2, 4)), st(2, 2));
      const src = await s.readForCopy(V, 0, 0, 4 * block);
      expect(pairs(src)).toEqual([[0, 0], [2, 2], [2, 2], [0, 0]]);
      expect(src.crcs).toEqual(blockCrcs(src.data));
      expect(src.data.subarray(block, 3 * block).equals(filled(2, 4))).toBe(true);
      await s.setMeta(meta(3, 3));
      expect(await s.copyBlocks(V, 3, 0, src.data, src.crcs, src, 3)).toBe(4);
      expect((await s.read(V, 3, 0, 4 * block)).data.equals(src.data)).toBe(true);
      expect(pairs(await s.stamps(V, 3, 0, 4 * block, false))).toEqual([[0, 0], [2, 2], [2, 2], [0, 0]]);
    }));

    it('finds a flipped bit on read and on a verify, and repairs the block from a good copy keeping its stamp', withStore(async (f, s) => {
      const good = filled(3, 5);
      await s.write(V, 0, 0, good, blockCrcs(good), st(1, 7));
      await f.flipBit(V, 0, block + 100);
      const before = s.checksumErrors;
      await expect(s.read(V, 0, block, 10)).rejects.toMatchObject({ code: ErrorCode.Checksum, details: { block: 1 } });
      expect((await s.stamps(V, 0, 0, 3 * block, false)).bad).toEqual([]);
      const verified = await s.stamps(V, 0, 0, 3 * block, true);
      expect(verified.bad).toEqual([1]);
      expect(verified.crcs[0]).toBe(crc32c(filled(1, 5)));
      await expect(s.readForCopy(V, 0, 0, 3 * block)).rejects.toMatchObject({ code: ErrorCode.Checksum });
      expect(s.checksumErrors).toBeGreaterThan(before);
      const wrong = filled(1, 6);
      await expect(s.repairBlocks(V, 0, block, wrong, blockCrcs(filled(1, 5)), stampsOf([1, 7]))).rejects.toMatchObject({ code: ErrorCode.Checksum });
      await s.repairBlocks(V, 0, block, filled(1, 5), blockCrcs(filled(1, 5)), stampsOf([1, 7]));
      expect((await s.read(V, 0, 0, 3 * block)).data.equals(good)).toBe(true);
      const after = await s.stamps(V, 0, 0, 3 * block, true);
      expect([pairs(after), after.bad]).toEqual([[[1, 7], [1, 7], [1, 7]], []]);
    }));

    it('refuses a write on a full disk with BASALT_NO_SPACE, keeping stored data, and still trims', async () => {
      const f = await makeFactory();
      try {
        const s = await f.open();
        await s.setMeta(meta(0));
        await s.write(V, 0, 0, filled(2, 8), blockCrcs(filled(2, 8)), st(1, 1));
        await s.close();
        const full = await f.openFull();
        const err = await full.write(V, 0, 4 * block, filled(1, 9), blockCrcs(filled(1, 9)), st(1, 2)).then(() => undefined, (e: unknown) => e);
        expect(isBasaltError(err, ErrorCode.NoSpace), String(err)).toBe(true);
        expect((await full.read(V, 0, 0, 2 * block)).data.equals(filled(2, 8))).toBe(true);
        await full.zero(V, 0, 0, block, st(1, 3));
        expect((await full.read(V, 0, 0, 2 * block)).data.equals(Buffer.concat([filled(1, 0), filled(1, 8)]))).toBe(true);
        await full.close();
      } finally {
        await f.cleanup();
      }
    });

    it('removes a volume: operations queued behind the removal fail, other volumes keep their data', withStore(async (f, s) => {
      await s.setMeta({ ...meta(0), volumeId: V + 1 });
      await s.write(V, 0, 0, filled(1, 1), blockCrcs(filled(1, 1)), st(1, 1));
      await s.write(V + 1, 0, 0, filled(1, 2), blockCrcs(filled(1, 2)), st(1, 1));
      await s.raiseGeneration(V, 3);
      const removal = s.removeVolume(V);
      const late = s.write(V, 0, 0, filled(1, 1), blockCrcs(filled(1, 1)), st(1, 2)).then(() => 'written', (err: unknown) => err);
      expect((await removal).replicas).toBe(1);
      expect(await late).toMatchObject({ code: ErrorCode.StaleEpoch });
      expect([s.get(V, 0), s.generation(V)]).toEqual([undefined, 0]);
      await s.close();
      const again = await f.open();
      expect(again.list().map((m) => [m.volumeId, m.index])).toEqual([[V + 1, 0]]);
      expect((await again.read(V + 1, 0, 0, block)).data.equals(filled(1, 2))).toBe(true);
      await again.close();
    }));

    it('a snapshot reads as of its mark after writes, partial writes, trims and first writes; copy-on-write preserves each block once', withStore(async (_f, s) => {
      const before = Buffer.from(new Prng(SEED).fill(new Uint8Array(4 * block)));
      await s.write(V, 0, 0, before, blockCrcs(before), st(1, 1));
      await s.takeSnapshot(V, 0, 7, st(1, 2));
      await s.takeSnapshot(V, 0, 7, st(1, 2));
      expect(s.get(V, 0)?.snapshots).toEqual([{ id: 7, epoch: 1, seq: 2 }]);
      await s.write(V, 0, block, filled(1, 0xaa), blockCrcs(filled(1, 0xaa)), st(1, 3));
      await s.write(V, 0, 2 * block + 10, Buffer.alloc(20, 0xbb), pieceCrcs(2 * block + 10, Buffer.alloc(20, 0xbb)), st(1, 4));
      await s.zero(V, 0, 3 * block, block, st(1, 5));
      await s.write(V, 0, 5 * block, filled(1, 0xcc), blockCrcs(filled(1, 0xcc)), st(1, 6));
      await s.write(V, 0, block, filled(1, 0xdd), blockCrcs(filled(1, 0xdd)), st(1, 7));
      const snap = await s.readSnapshot(V, 0, 7, 0, 6 * block);
      expect(snap.data.equals(Buffer.concat([before, Buffer.alloc(2 * block)]))).toBe(true);
      expect(snap.crcs).toEqual(pieceCrcs(0, snap.data));
      const odd = await s.readSnapshot(V, 0, 7, block - 5, 2 * block + 9);
      expect(odd.data.equals(before.subarray(block - 5, 3 * block + 4))).toBe(true);
      const head = await s.read(V, 0, 0, 6 * block);
      expect(head.data.subarray(block, 2 * block).equals(filled(1, 0xdd))).toBe(true);
      expect(head.data.subarray(3 * block, 4 * block).equals(filled(1, 0))).toBe(true);
      expect(await s.changedBlocks(V, 0, 7, undefined, 0, 8 * block)).toEqual([1, 2, 3, 5]);
      expect(await s.changedBlocks(V, 0, undefined, 7, 0, 8 * block)).toEqual([0, 1, 2, 3]);
      await expect(s.readSnapshot(V, 0, 8, 0, block)).rejects.toMatchObject({ code: ErrorCode.SnapshotNotFound });
      await expect(s.deleteSnapshot(V, 0, 8)).rejects.toMatchObject({ code: ErrorCode.SnapshotNotFound });
    }));

    it('snapshots, deletes and diffs at random agree with a model of every snapshot, across a restart', withStore(async (f, s) => {
      const prng = new Prng(SEED);
      const blocks = 64;
      const model = Buffer.alloc(blocks * block);
      const stamps: [number, number][] = Array.from({ length: blocks }, () => [0, 0]);
      const snaps = new Map<number, { data: Buffer; stamps: [number, number][]; mark: number }>();
      let seq = 0;
      let nextId = 1;
      const check = async (store: ExtentStore): Promise<void> => {
        for (const [id, m] of snaps) {
          expect((await store.readSnapshot(V, 0, id, 0, blocks * block)).data.equals(m.data), `SEED=${SEED} snapshot ${id}`).toBe(true);
          for (const [id2, m2] of snaps) {
            if (m2.mark <= m.mark) continue;
            const want = m2.stamps.flatMap((x, b) => (x[1] > m.mark ? [b] : []));
            expect(await store.changedBlocks(V, 0, id, id2, 0, blocks * block), `SEED=${SEED} diff ${id}..${id2}`).toEqual(want);
          }
        }
        expect((await store.read(V, 0, 0, blocks * block)).data.equals(model), `SEED=${SEED} head`).toBe(true);
      };
      for (let i = 0; i < 150; i++) {
        const r = prng.int(0, 99);
        if (r < 10) {
          const id = nextId++;
          await s.takeSnapshot(V, 0, id, st(1, ++seq));
          snaps.set(id, { data: Buffer.from(model), stamps: stamps.map((x) => [...x] as [number, number]), mark: seq });
        } else if (r < 15 && snaps.size > 0) {
          const ids = [...snaps.keys()];
          const id = ids[prng.int(0, ids.length - 1)]!;
          await s.deleteSnapshot(V, 0, id);
          snaps.delete(id);
        } else {
          const len = prng.int(1, 3 * block);
          const off = prng.int(0, blocks * block - len);
          const stamp = st(1, ++seq);
          if (prng.chance(0.2)) {
            model.fill(0, off, off + len);
            await s.zero(V, 0, off, len, stamp);
          } else {
            const data = Buffer.from(prng.fill(new Uint8Array(len)));
            data.copy(model, off);
            await s.write(V, 0, off, data, pieceCrcs(off, data), stamp);
          }
          for (let b = Math.floor(off / block); b < Math.ceil((off + len) / block); b++) stamps[b] = [1, seq];
        }
      }
      await check(s);
      await s.close();
      const again = await f.open();
      expect(again.get(V, 0)?.snapshots?.map((m) => m.id)).toEqual([...snaps.keys()]);
      await check(again);
      await again.close();
    }));

    it('a rebuilt member given the marks (older ones too) and the primary\'s records reads every snapshot as the primary does', withStore(async (_f, s) => {
      await s.setMeta({ ...meta(0), volumeId: V + 1 });
      const w = async (vol: number, blk: number, byte: number, seq: number): Promise<void> => s.write(vol, 0, blk * block, filled(1, byte), blockCrcs(filled(1, byte)), st(1, seq));
      await w(V, 0, 1, 1);
      await w(V, 1, 2, 2);
      await s.takeSnapshot(V, 0, 1, st(1, 3));
      await w(V, 0, 3, 4);
      await s.takeSnapshot(V, 0, 2, st(1, 5));
      await w(V, 1, 4, 6);
      await w(V, 0, 5, 7);
      // The member (volume V + 1 here) got the newest snapshot forwarded, then the older mark, then the records.
      await s.takeSnapshot(V + 1, 0, 2, st(1, 5));
      await s.takeSnapshot(V + 1, 0, 1, st(1, 3));
      expect(s.get(V + 1, 0)?.snapshots?.map((m) => m.id)).toEqual([1, 2]);
      await s.write(V + 1, 0, 0, filled(2, 9), blockCrcs(filled(2, 9)), st(1, 8));
      for (const id of [1, 2]) {
        let from: number | undefined = 0;
        while (from !== undefined) {
          const got: Awaited<ReturnType<ExtentStore['snapshotRecords']>> = await s.snapshotRecords(V, 0, id, from, 1);
          expect(await s.installSnapshotRecords(V + 1, 0, id, got.records)).toBe(got.records.length);
          from = got.next;
        }
      }
      for (const id of [1, 2]) expect((await s.readSnapshot(V + 1, 0, id, 0, 2 * block)).data.equals((await s.readSnapshot(V, 0, id, 0, 2 * block)).data), `snapshot ${id}`).toBe(true);
      expect((await s.readSnapshot(V, 0, 1, 0, 2 * block)).data.equals(Buffer.concat([filled(1, 1), filled(1, 2)]))).toBe(true);
      expect(await s.installSnapshotRecords(V + 1, 0, 7, [])).toBe(0);
    }));

    it('a write whose data reached the disk and whose stamp did not still counts as a change in diffs between snapshots and to now', withStore(async (f, s) => {
      await s.write(V, 0, 0, filled(2, 1), blockCrcs(filled(2, 1)), st(1, 1));
      await s.takeSnapshot(V, 0, 1, st(1, 2));
      await s.write(V, 0, 0, filled(2, 2), blockCrcs(filled(2, 2)), st(1, 3));
      await f.kill(s);
      f.restamp(V, 0, 0, st(1, 1));
      const again = await f.open();
      expect((await again.read(V, 0, 0, block)).data.equals(filled(1, 2))).toBe(true);
      expect((await again.readSnapshot(V, 0, 1, 0, block)).data.equals(filled(1, 1))).toBe(true);
      expect(await again.changedBlocks(V, 0, 1, undefined, 0, 4 * block)).toEqual([0, 1]);
      // Preserved again for a later snapshot with the stale stamp, the block still differs from snapshot 1.
      await again.takeSnapshot(V, 0, 2, st(1, 4));
      await again.write(V, 0, 0, filled(2, 3), blockCrcs(filled(2, 3)), st(1, 5));
      expect((await again.readSnapshot(V, 0, 2, 0, block)).data.equals(filled(1, 2))).toBe(true);
      expect(await again.changedBlocks(V, 0, 1, 2, 0, 4 * block)).toEqual([0, 1]);
      expect(await again.changedBlocks(V, 0, 2, undefined, 0, 4 * block)).toEqual([0, 1]);
      await again.close();
    }));

    it('concurrent writes to many blocks after a snapshot each preserve their own block', withStore(async (_f, s) => {
      const n = 64;
      const before = Buffer.concat(Array.from({ length: n }, (_, b) => filled(1, b + 1)));
      await s.write(V, 0, 0, before, blockCrcs(before), st(1, 1));
      await s.takeSnapshot(V, 0, 1, st(1, 2));
      await Promise.all(Array.from({ length: n }, (_, b) => s.write(V, 0, b * block, filled(1, 0xf0), blockCrcs(filled(1, 0xf0)), st(1, 3 + b))));
      expect((await s.readSnapshot(V, 0, 1, 0, n * block)).data.equals(before)).toBe(true);
      await s.close();
    }));
  });
}
