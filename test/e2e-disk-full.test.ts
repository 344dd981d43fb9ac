import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, isBasaltError, MiB, Prng } from '@basalt/stdx';
import { BasaltCluster } from './lib/cluster.js';
import { ProcessScope } from './lib/process.js';
import { DataFolders, isRoot } from './lib/tmpfs.js';
import { SEED } from './e2e-support.js';

/**
 * Chunk servers on 40 MiB tmpfs mounts: writing through the SDK until the disks fill gives the
 * caller BASALT_NO_SPACE (not a hang, not a generic I/O error), and everything acknowledged
 * before reads back intact, also after the servers restart. Needs root for mount(8).
 */
const scope = new ProcessScope();
let cluster: BasaltCluster | undefined;
const folders = new DataFolders('basalt-e2e-full-');
afterAll(async () => {
  cluster?.close();
  await scope.cleanup();
  folders.cleanup();
});

describe('a full disk under a volume', () => {
  // A real ENOSPC needs a small tmpfs, and mount(8) needs root: unprivileged runs skip this.
  it.skipIf(!isRoot)('gives the SDK BASALT_NO_SPACE and damages nothing already stored', { timeout: 600_000 }, async () => {
    cluster = await BasaltCluster.start(scope, {
      chunkDataDir: (i) => folders.folder(`c${i + 1}`, 40),
    });
    const client = cluster.client();
    const sizeBytes = 128 * MiB;
    await client.createVolume('full', { sizeBytes, extentSizeBytes: 4 * MiB, replicationFactor: 3 });
    const volume = await client.openVolume('full', { writer: true });
    const prng = new Prng(SEED);
    const stored: { offset: number; data: Buffer }[] = [];
    let error: unknown;
    for (let offset = 0; offset < sizeBytes; offset += MiB) {
      const data = Buffer.from(prng.fill(new Uint8Array(MiB)));
      try {
        await volume.write(offset, data, { fua: true });
        stored.push({ offset, data });
      } catch (err) {
        error = err;
        break;
      }
    }
    expect(isBasaltError(error, ErrorCode.NoSpace), `SEED=${SEED}: ${String(error)}`).toBe(true);
    expect((error as Error).message).toMatch(/no space left/);
    expect(stored.length).toBeGreaterThan(8);
    const check = async (what: string): Promise<void> => {
      const reader = await cluster!.client().openVolume('full');
      await Promise.all(stored.map(async (s) => expect((await reader.read(s.offset, s.data.length)).equals(s.data), `${what}: offset ${s.offset}`).toBe(true)));
      await reader.close();
    };
    await check('on the full disks');
    // The error is stable: the next write is refused the same way, and a flush still works.
    await expect(volume.write(stored.length * MiB, Buffer.alloc(MiB, 1))).rejects.toMatchObject({ code: ErrorCode.NoSpace });
    await volume.close();
    await cluster.restartAll();
    await check('after a restart');
  });
});
