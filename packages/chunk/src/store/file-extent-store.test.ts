import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isBasaltError, KiB, MiB, Prng } from '@basalt/stdx';
import { FramePool, pieceCrcs, type Stamp } from '@basalt/wire';
import type { ReplicaMeta } from '../replica/replica-meta.js';
import { currentBootId } from './boot-record.js';
import { extentPath } from './extent-files.js';
import { layerPath } from './snapshot-layer.js';
import { extentStoreConformance, type ExtentStoreFactory } from './extent-store.conformance.js';
import { FileExtentStore, type ExtentStoreOptions } from './file-extent-store.js';
import { blockBytes, entryBytes, shiftedEntries, sidecarBytes } from './sidecar.js';
import { crc32c } from '@node-rs/crc32';

const SEED = Number(process.env.SEED ?? 7);
const dirs: string[] = [];
const extentSizeBytes = 1 * MiB;
const s1 = { epoch: 1, seq: 1 };

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-store-'));
  dirs.push(d);
  return d;
}

afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** The store as a member sees it: every write() is a forwarded one. */
function asMember(store: FileExtentStore): FileExtentStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'write') return (v: number, i: number, off: number, data: Buffer, crcs: Uint32Array, stamp: Stamp) => target.write(v, i, off, data, crcs, stamp, true);
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

extentStoreConformance('file', () => fileFactory({}));
// Every write a member's, every data write of a whole block or more with O_DIRECT.
extentStoreConformance('file, members\' data written direct', () => fileFactory({ directWrites: 'members', directWriteBytesMin: blockBytes }, asMember));

function fileFactory(options: ExtentStoreOptions, wrap: (s: FileExtentStore) => FileExtentStore = (s) => s): ExtentStoreFactory {
  const dir = tempDir();
  const bootRecord = (bootId: string): void => fs.writeFileSync(path.join(dir, 'boot'), JSON.stringify({ bootId, clean: false }));
  return {
    open: async () => wrap(await FileExtentStore.open(dir, options)),
    // In one process the index must be closed to be opened again; what differs from a clean close is the boot record.
    kill: async (s) => {
      await s.close();
      bootRecord(currentBootId());
    },
    powerLoss: async (s) => {
      await s.close();
      bootRecord('a boot before this one');
    },
    flipBit: (volumeId, index, offset) => {
      const fd = fs.openSync(extentPath(dir, volumeId, index), 'r+');
      const byte = Buffer.alloc(1);
      fs.readSync(fd, byte, 0, 1, offset);
      fs.writeSync(fd, Buffer.from([byte[0]! ^ 1]), 0, 1, offset);
      fs.closeSync(fd);
    },
    restamp: (volumeId, index, block, stamp) => {
      const entry = Buffer.alloc(8);
      entry.writeUInt32BE(stamp.epoch, 0);
      entry.writeUInt32BE(stamp.seq, 4);
      const fd = fs.openSync(extentPath(dir, volumeId, index), 'r+');
      fs.writeSync(fd, entry, 0, 8, extentSizeBytes + sidecarBytes(extentSizeBytes) + block * 8);
      fs.closeSync(fd);
    },
    openFull: async () => wrap(await FileExtentStore.open(dir, { ...options, reserveBytes: Number.MAX_SAFE_INTEGER })),
    cleanup: () => undefined,
  };
}

function meta(index: number, size = extentSizeBytes): ReplicaMeta {
  return { volumeId: 5, index, extentSizeBytes: size, epoch: 1, replicas: [{ serverId: 'a', address: '127.0.0.1:1' }], version: 0, state: 'active' };
}

async function openWithExtent(dir: string, inlineIoBytesMax?: number): Promise<FileExtentStore> {
  const store = await FileExtentStore.open(dir, inlineIoBytesMax === undefined ? {} : { inlineIoBytesMax });
  await store.setMeta(meta(0));
  return store;
}

describe('extent store', () => {
  // Small I/O runs on the event loop by default (inline-io.ts); 0 sends all of it to the thread pool.
  it.each([['default inline I/O', undefined], ['thread pool only', 0], ['inline up to 4 KiB', 4 * KiB]])('reads back random writes of any alignment against a model, and unwritten bytes as zeros (%s)', async (_mode, inlineIoBytesMax) => {
    const prng = new Prng(SEED);
    const store = await openWithExtent(tempDir(), inlineIoBytesMax);
    const model = Buffer.alloc(extentSizeBytes);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      const len = prng.int(1, prng.chance(0.3) ? 40_000 : 5000);
      const off = prng.int(0, extentSizeBytes - len);
      const data = Buffer.from(prng.fill(new Uint8Array(len)));
      if (prng.chance(0.15)) {
        model.fill(0, off, off + len);
        pending.push(store.zero(5, 0, off, len, s1));
      } else {
        data.copy(model, off);
        pending.push(store.write(5, 0, off, data, pieceCrcs(off, data), s1));
      }
    }
    await Promise.all(pending);
    for (let i = 0; i < 100; i++) {
      const len = prng.int(1, 70_000);
      const off = prng.int(0, extentSizeBytes - len);
      const got = await store.read(5, 0, off, len);
      expect(Buffer.compare(got.data, model.subarray(off, off + len)), `SEED=${SEED} read ${off}+${len}`).toBe(0);
      expect(got.crcs).toEqual(pieceCrcs(off, got.data));
    }
    const io = store.ioStats;
    if (inlineIoBytesMax === 0) expect(io.inline).toBe(0);
    else expect(io.inline).toBeGreaterThan(0);
    expect(io.pool).toBeGreaterThan(0); // reads over 64 KiB, and the sidecar loads
    await store.close();
  });

  it('mixes a member\'s direct writes with buffered ones (small, partial-block, primary) and reads back the model, also after a reopen', async () => {
    const prng = new Prng(SEED);
    const dir = tempDir();
    const store = await FileExtentStore.open(dir, { directWrites: 'members' });
    await store.setMeta(meta(0));
    const model = Buffer.alloc(extentSizeBytes);
    for (let i = 0; i < 120; i++) {
      // Large aligned runs (direct when a member's), small and unaligned ones (buffered), in one order.
      const large = prng.chance(0.5);
      const len = large ? prng.int(17, 64) * blockBytes : prng.int(1, 9000);
      const off = large ? prng.int(0, extentSizeBytes / blockBytes - len / blockBytes) * blockBytes : prng.int(0, extentSizeBytes - len);
      const data = Buffer.from(prng.fill(new Uint8Array(len)));
      data.copy(model, off);
      await store.write(5, 0, off, data, pieceCrcs(off, data), s1, prng.chance(0.8));
      if (prng.chance(0.3)) {
        const at = prng.int(0, extentSizeBytes - 70_000);
        expect(Buffer.compare((await store.read(5, 0, at, 70_000)).data, model.subarray(at, at + 70_000)), `SEED=${SEED} read ${at} after op ${i}`).toBe(0);
      }
    }
    expect(store.ioStats.direct).toBeGreaterThan(0);
    expect(store.ioStats.directUnsupported).toBe(false);
    expect(Buffer.compare((await store.read(5, 0, 0, extentSizeBytes)).data, model), `SEED=${SEED}`).toBe(0);
    await store.close();
    const again = await FileExtentStore.open(dir);
    expect(Buffer.compare((await again.read(5, 0, 0, extentSizeBytes)).data, model), `SEED=${SEED} after reopen`).toBe(0);
    await again.close();
  });

  it('reads large ranges into its read pool, so data given back serves the next read; small reads stay out of it', async () => {
    const dir = tempDir();
    const pool = new FramePool(8 * MiB);
    const store = await FileExtentStore.open(dir, { readPool: pool });
    await store.setMeta(meta(0));
    const data = Buffer.from(new Prng(SEED).fill(new Uint8Array(256 * KiB)));
    await store.write(5, 0, 0, data, pieceCrcs(0, data), s1);
    const first = await store.read(5, 0, 0, 128 * KiB);
    expect(first.data.equals(data.subarray(0, 128 * KiB))).toBe(true);
    pool.give(first.data);
    const second = await store.read(5, 0, 100 * KiB, 128 * KiB); // unaligned: the whole blocks around it are read
    expect(second.data.buffer).toBe(first.data.buffer);
    expect(second.data.equals(data.subarray(100 * KiB, 228 * KiB))).toBe(true);
    expect(second.crcs).toEqual(pieceCrcs(100 * KiB, second.data));
    pool.give(second.data);
    const small = await store.read(5, 0, 0, 4 * KiB);
    expect(small.data.buffer).not.toBe(first.data.buffer);
    expect(small.data.equals(data.subarray(0, 4 * KiB))).toBe(true);
    await store.close();
  });

  it('keeps data and metadata across a reopen', async () => {
    const dir = tempDir();
    const store = await openWithExtent(dir);
    const data = Buffer.from(new Prng(SEED).fill(new Uint8Array(3 * 4096 + 17)));
    await store.write(5, 0, 4000, data, pieceCrcs(4000, data), s1);
    store.bumpVersion(5, 0);
    await store.sync();
    await store.close();
    const again = await FileExtentStore.open(dir);
    expect(again.get(5, 0)).toMatchObject({ epoch: 1, version: 1, state: 'active' });
    expect(Buffer.compare((await again.read(5, 0, 4000, data.length)).data, data)).toBe(0);
    await again.close();
  });

  it('reports a flipped byte in the extent file as BASALT_CHECKSUM, and refuses to merge over it', async () => {
    const dir = tempDir();
    const store = await openWithExtent(dir);
    const data = Buffer.from(new Prng(SEED).fill(new Uint8Array(8192)));
    await store.write(5, 0, 8192, data, pieceCrcs(8192, data), s1);
    const file = extentPath(dir, 5, 0);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([data[100]! ^ 0x40]), 0, 1, 8192 + 100);
    fs.closeSync(fd);
    await expect(store.read(5, 0, 8192, 10)).rejects.toMatchObject({ code: ErrorCode.Checksum, details: { block: 2 } });
    await expect(store.read(5, 0, 12288, 4096)).resolves.toBeDefined();
    const small = Buffer.from('x');
    await expect(store.write(5, 0, 8192 + 5, small, pieceCrcs(8192 + 5, small), s1)).rejects.toMatchObject({ code: ErrorCode.Checksum });
    expect(store.checksumErrors).toBe(2);
    await store.close();
  });

  it('reads a block as valid when a crash fell between its checksum and its data write', async () => {
    const dir = tempDir();
    const store = await openWithExtent(dir);
    const old = Buffer.alloc(blockBytes, 1);
    await store.write(5, 0, 0, old, pieceCrcs(0, old), s1);
    await store.close();
    // The first half of overwriting block 0 with "new": the sidecar entry says [new, old], the data is still old.
    // Block 0's entry is the first of the sidecar, which follows the extent's data in its file.
    const fd = fs.openSync(extentPath(dir, 5, 0), 'r+');
    const entry = Buffer.alloc(entryBytes);
    fs.readSync(fd, entry, 0, entryBytes, extentSizeBytes);
    fs.writeSync(fd, shiftedEntries(entry, [crc32c(Buffer.alloc(blockBytes, 2))]), 0, entryBytes, extentSizeBytes);
    fs.closeSync(fd);
    const again = await FileExtentStore.open(dir);
    expect((await again.read(5, 0, 0, blockBytes)).data.equals(old)).toBe(true);
    // A block matching neither slot is still caught.
    const dataFd = fs.openSync(extentPath(dir, 5, 0), 'r+');
    fs.writeSync(dataFd, Buffer.alloc(blockBytes, 3), 0, blockBytes, 0);
    fs.closeSync(dataFd);
    await expect(again.read(5, 0, 0, blockBytes)).rejects.toMatchObject({ code: ErrorCode.Checksum });
    await again.close();
  });

  it('converts a replica of the two-file layout (data + sidecar) into one file when it opens it', async () => {
    const dir = tempDir();
    const store = await openWithExtent(dir);
    const data = Buffer.from(new Prng(SEED).fill(new Uint8Array(3 * blockBytes)));
    await store.write(5, 0, blockBytes, data, pieceCrcs(blockBytes, data), s1);
    await store.close();
    // Lay the replica out as earlier versions did: <index>.data and <index>.sum.
    const file = extentPath(dir, 5, 0);
    const legacy = { data: file.replace(/\.extent$/, '.data'), sidecar: file.replace(/\.extent$/, '.sum') };
    const whole = fs.readFileSync(file);
    fs.writeFileSync(legacy.sidecar, whole.subarray(extentSizeBytes));
    fs.renameSync(file, legacy.data);
    fs.truncateSync(legacy.data, extentSizeBytes);
    const again = await FileExtentStore.open(dir);
    expect((await again.read(5, 0, blockBytes, data.length)).data.equals(data)).toBe(true);
    expect([fs.existsSync(file), fs.existsSync(legacy.data), fs.existsSync(legacy.sidecar)]).toEqual([true, false, false]);
    // The checksums came along: a flipped byte is still caught.
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([data[10]! ^ 1]), 0, 1, blockBytes + 10);
    fs.closeSync(fd);
    await expect(again.read(5, 0, blockBytes, 100)).rejects.toMatchObject({ code: ErrorCode.Checksum });
    await again.close();
    // A conversion that died after its rename left the old sidecar: it is removed, the file kept.
    fs.writeFileSync(legacy.sidecar, Buffer.alloc(16));
    const third = await FileExtentStore.open(dir);
    await expect(third.read(5, 0, 2 * blockBytes, 100)).resolves.toBeDefined();
    expect(fs.existsSync(legacy.sidecar)).toBe(false);
    await third.close();
  });

  it('leaves the old stamp on a block when a crash falls between its data and its stamp, and a newer copy still applies', async () => {
    const dir = tempDir();
    const store = await openWithExtent(dir);
    const a = Buffer.alloc(blockBytes, 1);
    await store.write(5, 0, 0, a, pieceCrcs(0, a), s1);
    await store.close();
    // The first two steps of writing b with stamp (1, 2): checksum entry [b, a], then the data; the stamp never written.
    const b = Buffer.alloc(blockBytes, 2);
    const fd = fs.openSync(extentPath(dir, 5, 0), 'r+');
    const entry = Buffer.alloc(entryBytes);
    fs.readSync(fd, entry, 0, entryBytes, extentSizeBytes);
    fs.writeSync(fd, shiftedEntries(entry, [crc32c(b)]), 0, entryBytes, extentSizeBytes);
    fs.writeSync(fd, b, 0, blockBytes, 0);
    fs.closeSync(fd);
    const again = await FileExtentStore.open(dir);
    expect((await again.read(5, 0, 0, blockBytes)).data.equals(b)).toBe(true);
    const out = await again.stamps(5, 0, 0, blockBytes, true);
    expect([out.epochs[0], out.seqs[0], out.crcs[0], out.bad]).toEqual([1, 1, crc32c(b), []]);
    // The primary's copy of that write (stamp (1, 2)) is newer than what the block says: applied.
    expect(await again.copyBlocks(5, 0, 0, b, pieceCrcs(0, b), { epochs: Uint32Array.of(1), seqs: Uint32Array.of(2) }, 1)).toBe(1);
    expect((await again.stamps(5, 0, 0, blockBytes, false)).seqs[0]).toBe(2);
    await again.close();
  });

  it('converts a replica written before stamps (data and checksums only) when it opens it: blocks with data get (0, 1)', async () => {
    const dir = tempDir();
    const store = await openWithExtent(dir);
    const data = Buffer.from(new Prng(SEED).fill(new Uint8Array(2 * blockBytes)));
    await store.write(5, 0, blockBytes, data, pieceCrcs(blockBytes, data), s1);
    await store.close();
    const file = extentPath(dir, 5, 0);
    const sidecarEnd = extentSizeBytes + (extentSizeBytes / blockBytes) * entryBytes;
    for (const interruptedAt of [sidecarEnd, sidecarEnd + 100, 2 * sidecarEnd - extentSizeBytes - 8]) {
      // Format 1 ends with the sidecar; a conversion that died left a stamp table cut short (zeros).
      fs.truncateSync(file, sidecarEnd);
      fs.truncateSync(file, interruptedAt);
      const again = await FileExtentStore.open(dir);
      expect((await again.read(5, 0, blockBytes, data.length)).data.equals(data), `cut at ${interruptedAt}`).toBe(true);
      const out = await again.stamps(5, 0, 0, 4 * blockBytes, true);
      expect([Array.from(out.epochs), Array.from(out.seqs), out.bad]).toEqual([[0, 0, 0, 0], [0, 1, 1, 0], []]);
      expect(fs.statSync(file).size).toBe(2 * sidecarEnd - extentSizeBytes);
      await again.close();
    }
    fs.truncateSync(file, sidecarEnd - 1);
    const broken = await FileExtentStore.open(dir);
    await expect(broken.read(5, 0, 0, 10)).rejects.toMatchObject({ code: ErrorCode.Io });
    await broken.close();
  });

  it('records a clean close in its boot record, and marks replicas suspect when the last close was unclean in another boot', async () => {
    const dir = tempDir();
    const store = await openWithExtent(dir);
    const bootFile = path.join(dir, 'boot');
    expect(JSON.parse(fs.readFileSync(bootFile, 'utf8'))).toEqual({ bootId: currentBootId(), clean: false });
    await store.close();
    expect(JSON.parse(fs.readFileSync(bootFile, 'utf8'))).toEqual({ bootId: currentBootId(), clean: true });
    const same = await FileExtentStore.open(dir);
    expect(same.get(5, 0)?.suspect).toBeUndefined();
    await same.close();
    fs.writeFileSync(bootFile, JSON.stringify({ bootId: currentBootId(), clean: false }));
    const killed = await FileExtentStore.open(dir);
    expect(killed.get(5, 0)?.suspect, 'a killed process in this boot: the page cache kept everything').toBeUndefined();
    await killed.close();
    fs.rmSync(bootFile);
    const unknown = await FileExtentStore.open(dir);
    expect(unknown.get(5, 0)?.suspect, 'no record (a store from before boot records): assume the worst').toBe(true);
    await unknown.close();
  });

  it('keeps checksums right when in-memory sidecars are dropped and reloaded under a tiny budget', async () => {
    const prng = new Prng(SEED);
    const dir = tempDir();
    // A budget below one sidecar: every idle mirror goes as soon as another extent loads one.
    const store = await FileExtentStore.open(dir, { sidecarCacheBytes: 1 });
    const models = [0, 1, 2].map(() => Buffer.alloc(extentSizeBytes));
    for (const i of [0, 1, 2]) await store.setMeta(meta(i));
    const ops: Promise<unknown>[] = [];
    for (let n = 0; n < 300; n++) {
      const i = prng.int(0, 2);
      const len = prng.int(1, 3 * blockBytes);
      const off = prng.int(0, extentSizeBytes - len);
      const data = Buffer.from(prng.fill(new Uint8Array(len)));
      data.copy(models[i]!, off);
      ops.push(store.write(5, i, off, data, pieceCrcs(off, data), s1));
      if (n % 7 === 0) ops.push(store.read(5, prng.int(0, 2), off, len));
    }
    await Promise.all(ops);
    for (const i of [0, 1, 2]) expect((await store.read(5, i, 0, extentSizeBytes)).data.equals(models[i]!)).toBe(true);
    await store.close();
    // What the mirrors described is what the sidecar files hold.
    const again = await FileExtentStore.open(dir);
    for (const i of [0, 1, 2]) expect((await again.read(5, i, 0, extentSizeBytes)).data.equals(models[i]!)).toBe(true);
    await again.close();
  });

  it('cuts a snapshot layer\'s torn tail at open, keeps the whole records, and appends after them; a snapshot with nothing preserved has no file', async () => {
    const dir = tempDir();
    const store = await openWithExtent(dir);
    const block = (byte: number): Buffer => Buffer.alloc(blockBytes, byte);
    await store.write(5, 0, 0, Buffer.concat([block(1), block(2), block(3)]), pieceCrcs(0, Buffer.concat([block(1), block(2), block(3)])), s1);
    await store.takeSnapshot(5, 0, 1, { epoch: 1, seq: 2 });
    await store.takeSnapshot(5, 0, 2, { epoch: 1, seq: 3 });
    expect((await store.readSnapshot(5, 0, 1, 0, blockBytes)).data.equals(block(1))).toBe(true);
    expect(fs.existsSync(layerPath(dir, 5, 0, 1)) || fs.existsSync(layerPath(dir, 5, 0, 2))).toBe(false);
    await store.write(5, 0, 0, block(9), pieceCrcs(0, block(9)), { epoch: 1, seq: 4 });
    await store.write(5, 0, blockBytes, block(9), pieceCrcs(0, block(9)), { epoch: 1, seq: 5 });
    await store.close();
    // A crash while the second record was appended: its data never fully reached the file.
    const file = layerPath(dir, 5, 0, 2);
    fs.truncateSync(file, fs.statSync(file).size - 100);
    const again = await FileExtentStore.open(dir);
    expect((await again.snapshotRecords(5, 0, 2, 0, 10)).records.map((r) => r.block)).toEqual([0]);
    await again.write(5, 0, 2 * blockBytes, block(9), pieceCrcs(0, block(9)), { epoch: 1, seq: 6 });
    expect((await again.snapshotRecords(5, 0, 2, 0, 10)).records.map((r) => r.block)).toEqual([0, 2]);
    expect((await again.readSnapshot(5, 0, 2, 2 * blockBytes, blockBytes)).data.equals(block(3))).toBe(true);
    expect((await again.readSnapshot(5, 0, 1, 0, blockBytes)).data.equals(block(1))).toBe(true);
    await again.close();
  });

  it('a damaged record header inside a snapshot layer loses that record only: the records after it stay, and appends go after them', async () => {
    const dir = tempDir();
    const store = await openWithExtent(dir);
    const block = (byte: number): Buffer => Buffer.alloc(blockBytes, byte);
    const data = Buffer.concat([block(1), block(2), block(3), block(4)]);
    await store.write(5, 0, 0, data, pieceCrcs(0, data), s1);
    await store.takeSnapshot(5, 0, 1, { epoch: 1, seq: 2 });
    for (const b of [0, 1, 2]) await store.write(5, 0, b * blockBytes, block(9), pieceCrcs(0, block(9)), { epoch: 1, seq: 3 + b });
    await store.close();
    // A bit of the first record's block number flips on disk: its header no longer checks.
    const file = layerPath(dir, 5, 0, 1);
    const size = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([1]), 0, 1, 7);
    fs.closeSync(fd);
    const again = await FileExtentStore.open(dir);
    expect((await again.snapshotRecords(5, 0, 1, 0, 10)).records.map((r) => r.block)).toEqual([1, 2]);
    expect(fs.statSync(file).size).toBe(size);
    expect((await again.readSnapshot(5, 0, 1, blockBytes, 2 * blockBytes)).data.equals(Buffer.concat([block(2), block(3)]))).toBe(true);
    await again.write(5, 0, 3 * blockBytes, block(9), pieceCrcs(0, block(9)), { epoch: 1, seq: 6 });
    await again.close();
    const third = await FileExtentStore.open(dir);
    expect((await third.snapshotRecords(5, 0, 1, 0, 10)).records.map((r) => r.block)).toEqual([1, 2, 3]);
    expect((await third.readSnapshot(5, 0, 1, 3 * blockBytes, blockBytes)).data.equals(block(4))).toBe(true);
    await third.close();
  });

  it('past a damaged header, a layer record whose data did not reach the disk (an append cut by a power loss) is left out', async () => {
    const dir = tempDir();
    const store = await openWithExtent(dir);
    const data = Buffer.alloc(4 * blockBytes, 1);
    await store.write(5, 0, 0, data, pieceCrcs(0, data), s1);
    await store.takeSnapshot(5, 0, 1, { epoch: 1, seq: 2 });
    for (const b of [0, 1, 2]) await store.write(5, 0, b * blockBytes, Buffer.alloc(blockBytes, 9), pieceCrcs(0, Buffer.alloc(blockBytes, 9)), { epoch: 1, seq: 3 + b });
    await store.close();
    const record = 24 + blockBytes;
    const fd = fs.openSync(layerPath(dir, 5, 0, 1), 'r+');
    fs.writeSync(fd, Buffer.alloc(24), 0, 24, 0);
    fs.writeSync(fd, Buffer.alloc(blockBytes), 0, blockBytes, record + 24);
    fs.closeSync(fd);
    const again = await FileExtentStore.open(dir);
    expect((await again.snapshotRecords(5, 0, 1, 0, 10)).records.map((r) => r.block)).toEqual([2]);
    await again.close();
  });

  it('applies overlapping writes in call order', async () => {
    const store = await openWithExtent(tempDir());
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      const data = Buffer.alloc(4096 * 3, i);
      writes.push(store.write(5, 0, (i % 3) * 1000, data, pieceCrcs((i % 3) * 1000, data), s1));
    }
    await Promise.all(writes);
    const got = await store.read(5, 0, 49 % 3 * 1000, 4096 * 3);
    expect(got.data.every((b) => b === 49)).toBe(true);
    await store.close();
  });

  it('batches concurrent syncs into few fdatasync rounds', async () => {
    const store = await openWithExtent(tempDir());
    const data = Buffer.alloc(4096, 1);
    await Promise.all(Array.from({ length: 64 }, (_, i) => store.write(5, 0, i * 4096, data, pieceCrcs(0, data), s1).then(() => store.sync())));
    expect(store.syncStats.requests).toBe(64);
    expect(store.syncStats.rounds).toBeLessThan(64);
    await store.close();
  });

  it('punches holes for long zeroed ranges and reads zeros there', async () => {
    const dir = tempDir();
    const store = await FileExtentStore.open(dir);
    const size = 4 * MiB;
    await store.setMeta(meta(1, size));
    const data = Buffer.alloc(size, 7);
    await store.write(5, 1, 0, data, pieceCrcs(0, data), s1);
    await store.zero(5, 1, 100, size - 200, s1);
    const got = await store.read(5, 1, 0, size);
    expect(got.data.subarray(0, 100).every((b) => b === 7)).toBe(true);
    expect(got.data.subarray(100, size - 100).every((b) => b === 0)).toBe(true);
    expect(got.data.subarray(size - 100).every((b) => b === 7)).toBe(true);
    expect(fs.statSync(extentPath(dir, 5, 1)).blocks * 512).toBeLessThan(size / 2);
    await store.close();
  });

  // A real ENOSPC needs a tiny tmpfs, and mount(8) needs root (CI runs as root); unprivileged runs skip it.
  it.skipIf(process.getuid?.() !== 0).each([['buffered', false], ['a member\'s, direct', true]])('fails a write (%s) that meets a real ENOSPC with BASALT_NO_SPACE and keeps stored data (tmpfs, needs root)', async (_mode, member) => {
    const dir = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]);
    try {
      const store = await FileExtentStore.open(dir, { reserveBytes: 0, directWrites: 'members' });
      const prng = new Prng(SEED);
      const stored: [number, number, Buffer][] = [];
      let failure: unknown;
      for (let index = 0; index < 4 && failure === undefined; index++) {
        await store.setMeta(meta(index));
        for (let off = 0; off < extentSizeBytes; off += 128 * KiB) {
          const data = Buffer.from(prng.fill(new Uint8Array(128 * KiB)));
          try {
            await store.write(5, index, off, data, pieceCrcs(off, data), s1, member);
            stored.push([index, off, data]);
          } catch (err) {
            failure = err;
            break;
          }
        }
      }
      expect(isBasaltError(failure, ErrorCode.NoSpace), String(failure)).toBe(true);
      for (const [index, off, data] of stored) expect(Buffer.compare((await store.read(5, index, off, data.length)).data, data)).toBe(0);
      expect(store.ioStats.direct > 0).toBe(member);
      await store.close();
    } finally {
      execFileSync('umount', ['-l', dir]);
    }
  });
  it('removes every replica of a volume: its files, its records and its generation; other volumes keep theirs', async () => {
    const dir = tempDir();
    const store = await FileExtentStore.open(dir);
    const other: ReplicaMeta = { ...meta(0), volumeId: 6 };
    for (const m of [meta(0), meta(1), other]) await store.setMeta(m);
    const data = Buffer.alloc(8 * KiB, 9);
    for (const [v, i] of [[5, 0], [5, 1], [6, 0]] as const) await store.write(v, i, 0, data, pieceCrcs(0, data), s1);
    await store.raiseGeneration(5, 3);
    // Queued behind the removal: fails instead of writing into a removed replica.
    const removal = store.removeVolume(5);
    const late = store.write(5, 1, 0, data, pieceCrcs(0, data), s1).then(() => 'written', (err: unknown) => err);
    const removed = await removal;
    expect(await late).toMatchObject({ code: ErrorCode.StaleEpoch });
    expect(removed.replicas).toBe(2);
    expect(removed.bytes).toBeGreaterThanOrEqual(2 * data.length);
    expect(fs.existsSync(path.join(dir, 'extents', '5'))).toBe(false);
    expect(store.get(5, 0)).toBeUndefined();
    expect(store.generation(5)).toBe(0);
    await store.close();

    const again = await FileExtentStore.open(dir);
    expect(again.list().map((m) => [m.volumeId, m.index])).toEqual([[6, 0]]);
    expect(again.generation(5)).toBe(0);
    expect((await again.read(6, 0, 0, data.length)).data.equals(data)).toBe(true);
    // Removing what is not there is a no-op.
    expect(await again.removeVolume(5)).toEqual({ replicas: 0, bytes: 0 });
    await again.close();
  });
});
