import { crc32c } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { limits } from '@basalt/stdx';
import { pieceCrcs } from '@basalt/wire';
import { extentKey, type ReplicaMeta } from '../replica/replica-meta.js';
import { extentStoreConformance } from './extent-store.conformance.js';
import { MemoryDisk, MemoryExtentStore } from './memory-extent-store.js';

extentStoreConformance('memory', () => {
  const disk = new MemoryDisk();
  return {
    open: () => Promise.resolve(MemoryExtentStore.open(disk)),
    kill: () => Promise.resolve(disk.crash('process')),
    powerLoss: () => Promise.resolve(disk.crash('power')),
    flipBit: (volumeId, index, offset) => disk.flipBit(volumeId, index, offset),
    restamp: (volumeId, index, block, stamp) => {
      const ext = disk.extents.get(extentKey(volumeId, index))!;
      for (const map of [ext.cache, ext.durable]) if (map.has(block)) Object.assign(map.get(block)!, stamp);
    },
    openFull: () => {
      disk.full = true;
      return Promise.resolve(MemoryExtentStore.open(disk));
    },
    cleanup: () => undefined,
  };
});

const block = limits.checksumBlockBytes;
const meta: ReplicaMeta = { volumeId: 1, index: 0, extentSizeBytes: 1024 * 1024, epoch: 1, replicas: [{ serverId: 'a', address: 'a:1' }], version: 0, state: 'active' };
const filled = (byte: number): Buffer => Buffer.alloc(block, byte);

describe('memory extent store: the power-loss model', () => {
  it('loses writes that were not synced, keeps synced ones, and refuses calls on the crashed store', async () => {
    const disk = new MemoryDisk();
    const s = MemoryExtentStore.open(disk);
    await s.setMeta(meta);
    await s.write(1, 0, 0, filled(1), pieceCrcs(0, filled(1)), { epoch: 1, seq: 1 });
    await s.sync();
    await s.write(1, 0, 0, filled(2), pieceCrcs(0, filled(2)), { epoch: 1, seq: 2 });
    await s.write(1, 0, block, filled(3), pieceCrcs(0, filled(3)), { epoch: 1, seq: 3 });
    disk.crash('power');
    await expect(s.read(1, 0, 0, block)).rejects.toMatchObject({ code: 'BASALT_CLOSED' });
    const again = MemoryExtentStore.open(disk);
    expect((await again.read(1, 0, 0, 2 * block)).data.equals(Buffer.concat([filled(1), filled(0)]))).toBe(true);
    const out = await again.stamps(1, 0, 0, 2 * block, true);
    expect([Array.from(out.epochs), Array.from(out.seqs), out.bad]).toEqual([[1, 0], [1, 0], []]);
  });

  it('keeps across a power loss the writes of the extent a sync named, and loses the other extents\' unsynced ones', async () => {
    const disk = new MemoryDisk();
    const s = MemoryExtentStore.open(disk);
    await s.setMeta(meta);
    await s.setMeta({ ...meta, index: 1 });
    await s.write(1, 0, 0, filled(1), pieceCrcs(0, filled(1)), { epoch: 1, seq: 1 });
    await s.write(1, 1, 0, filled(2), pieceCrcs(0, filled(2)), { epoch: 1, seq: 1 });
    await s.sync({ volumeId: 1, index: 0 });
    await s.sync({ volumeId: 1, index: 7 });
    disk.crash('power');
    const again = MemoryExtentStore.open(disk);
    expect((await again.read(1, 0, 0, block)).data.equals(filled(1))).toBe(true);
    expect((await again.read(1, 1, 0, block)).data.equals(filled(0))).toBe(true);
  });

  it('leaves the old stamp on new data when the stamp did not reach the disk (the block looks older: a catch-up copies it)', async () => {
    const disk = new MemoryDisk();
    const s = MemoryExtentStore.open(disk);
    await s.setMeta(meta);
    await s.write(1, 0, 0, filled(1), pieceCrcs(0, filled(1)), { epoch: 1, seq: 1 });
    await s.sync();
    await s.write(1, 0, 0, filled(2), pieceCrcs(0, filled(2)), { epoch: 1, seq: 2 });
    disk.crash('power', (part) => part !== 'stamp');
    const again = MemoryExtentStore.open(disk);
    expect((await again.read(1, 0, 0, block)).data.equals(filled(2))).toBe(true);
    const out = await again.stamps(1, 0, 0, block, false);
    expect([out.epochs[0], out.seqs[0], out.crcs[0]]).toEqual([1, 1, crc32c(filled(2))]);
  });

  it('settles a block whose data write was lost while its checksum and stamp reached the disk: its CRC and stamp then say what it holds', async () => {
    const disk = new MemoryDisk();
    const s = MemoryExtentStore.open(disk);
    await s.setMeta(meta);
    await s.write(1, 0, 0, filled(1), pieceCrcs(0, filled(1)), { epoch: 1, seq: 1 });
    await s.sync();
    await s.write(1, 0, 0, filled(2), pieceCrcs(0, filled(2)), { epoch: 1, seq: 2 });
    disk.crash('power', (part) => part !== 'data');
    const again = MemoryExtentStore.open(disk);
    expect(again.get(1, 0)?.suspect).toBe(true);
    const out = await again.stamps(1, 0, 0, block, false);
    expect([out.epochs[0], out.seqs[0], out.crcs[0]]).toEqual([0, 1, crc32c(filled(1))]);
    expect(again.get(1, 0)?.suspect).toBeUndefined();
  });
});
