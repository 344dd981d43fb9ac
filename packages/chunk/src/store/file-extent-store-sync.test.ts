import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MiB } from '@basalt/stdx';
import { pieceCrcs } from '@basalt/wire';
import type * as FsIo from './fs-io.js';
import type { IoMode } from './fs-io.js';
import { FileExtentStore } from './file-extent-store.js';

/**
 * sync() makes durable every write that resolved before it, however the writes and the sync
 * interleave with other syncs of the same file (a FLUSH from another connection, a FUA write):
 * here a sync round starts while a write's data is still on its way to the file.
 */
const io = vi.hoisted(() => ({
  /** When set, a data write waits for it (after the write marked its file dirty). */
  dataGate: undefined as Promise<void> | undefined,
  /** Resolved when a data write reached the gate. */
  atGate: undefined as (() => void) | undefined,
  syncs: 0,
}));

vi.mock('./fs-io.js', async (importOriginal) => {
  const real = await importOriginal<typeof FsIo>();
  return {
    ...real,
    writeFully: async (fd: number, buf: Uint8Array, position: number, what: string, mode?: IoMode) => {
      if (what === 'write extent data' && io.dataGate !== undefined) {
        io.atGate?.();
        await io.dataGate;
      }
      return real.writeFully(fd, buf, position, what, mode);
    },
    fdatasync: (fd: number, what: string) => {
      io.syncs++;
      return real.fdatasync(fd, what);
    },
  };
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('file extent store sync', () => {
  it('syncs a write whose data landed while an earlier sync round of its file ran', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-store-sync-'));
    dirs.push(dir);
    const store = await FileExtentStore.open(dir, { inlineIoBytesMax: 0 });
    await store.setMeta({ volumeId: 5, index: 0, extentSizeBytes: MiB, epoch: 1, replicas: [{ serverId: 'a', address: '127.0.0.1:1' }], version: 0, state: 'active' });
    const data = Buffer.alloc(4096, 9);
    await store.write(5, 0, 0, data, pieceCrcs(0, data), { epoch: 1, seq: 1 });
    await store.sync({ volumeId: 5, index: 0 });

    let release!: () => void;
    io.dataGate = new Promise((resolve) => (release = resolve));
    const reached = new Promise<void>((resolve) => (io.atGate = resolve));
    const written = store.write(5, 0, 8192, data, pieceCrcs(8192, data), { epoch: 1, seq: 2 });
    await reached;
    io.dataGate = undefined;
    // A round starts (another connection's FLUSH) while the write's data is not in the file yet.
    await store.sync({ volumeId: 5, index: 0 });
    release();
    await written;

    const before = io.syncs;
    await store.sync({ volumeId: 5, index: 0 });
    expect(io.syncs).toBe(before + 1);
    await store.close();
  });
});
