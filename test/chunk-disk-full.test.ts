import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isBasaltError, KiB, MiB, Prng } from '@basalt/stdx';
import { Cleanup, connectData, extentRef, sample, scrape, spawnChunkd, stopChunkd, tempDir } from './chunk-support.js';
import { isRoot } from './lib/tmpfs.js';

/**
 * A chunk server on a 12 MiB tmpfs: writes fill it until BASALT_NO_SPACE (the server keeps a
 * reserve for its index); everything acknowledged before reads back intact, a trim gives space
 * back, and the server keeps serving and restarts on the full disk. Needs root for mount(8).
 * (A real ENOSPC inside the store is tested in packages/chunk/src/store/extent-store.test.ts.)
 */
const SEED = Number(process.env.SEED ?? 5);
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe('a full disk', () => {
  // A real ENOSPC needs a small tmpfs, and mount(8) needs root: unprivileged runs skip this.
  it.skipIf(!isRoot)('returns BASALT_NO_SPACE and damages nothing already stored', async () => {
    const dir = tempDir(cleanup, 'basalt-chunk-full-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', dir]);
    cleanup.add(() => void execFileSync('umount', ['-l', dir]));
    let proc = await spawnChunkd(cleanup, { id: 'full0', dataDir: dir });
    const prng = new Prng(SEED);
    const conn = await connectData(cleanup, proc.address);
    const chunk = 256 * KiB;
    const stored: { ext: ReturnType<typeof extentRef>; offset: number; data: Buffer }[] = [];
    let noSpace = 0;
    // Several 4 MiB extents: both the data files and new extents' checksum files hit ENOSPC.
    outer: for (let index = 0; index < 8; index++) {
      const ext = extentRef([proc], { index, extentSizeBytes: 4 * MiB });
      for (let offset = 0; offset < ext.extentSizeBytes; offset += chunk) {
        const data = Buffer.from(prng.fill(new Uint8Array(chunk)));
        try {
          await conn.write(ext, offset, data, { fua: true });
          stored.push({ ext, offset, data });
        } catch (err) {
          if (!isBasaltError(err, ErrorCode.NoSpace)) throw err;
          noSpace++;
          if (noSpace >= 3) break outer;
          break;
        }
      }
    }
    expect(noSpace, `SEED=${SEED}`).toBe(3);
    expect(stored.length).toBeGreaterThan(8);
    const check = async (c: typeof conn): Promise<void> => {
      for (const s of stored) {
        const got = await c.read(s.ext, s.offset, s.data.length);
        expect(Buffer.compare(got.data, s.data), `extent ${s.ext.index} offset ${s.offset}`).toBe(0);
      }
    };
    await check(conn);
    // Trimming an extent punches holes and gives the space back: writes succeed again.
    const trimmed = stored.filter((s) => s.ext.index === 0);
    await conn.trim(trimmed[0]!.ext, 0, trimmed[0]!.ext.extentSizeBytes, { fua: true });
    for (const s of trimmed) s.data = Buffer.alloc(s.data.length);
    const last = stored[stored.length - 1]!;
    const again = Buffer.from(prng.fill(new Uint8Array(chunk)));
    await conn.write(last.ext, last.offset, again, { fua: true });
    last.data = again;
    await check(conn);
    expect(sample(await scrape(proc.metricsAddress), 'basalt_chunk_ops_total{op="write",result="BASALT_NO_SPACE"}')).toBe(3);

    expect(await stopChunkd(proc)).toBe(0);
    proc = await spawnChunkd(cleanup, { id: 'full0', dataDir: dir });
    await check(await connectData(cleanup, proc.address));
  });
});
