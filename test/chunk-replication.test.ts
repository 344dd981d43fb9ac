import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, MiB, Prng } from '@basalt/stdx';
import { extentPath } from '@basalt/chunk';
import { Cleanup, connectData, extentRef, sample, scrape, spawnChunkd, stopChunkd, tempDir } from './chunk-support.js';

const SEED = Number(process.env.SEED ?? 1234);
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe('chunkd processes, replica sets given by the test', () => {
  it('replicate writes to 3 servers, detect a flipped byte on read, and keep data across restarts', async () => {
    const dirs = [0, 1, 2].map(() => tempDir(cleanup));
    let procs = await Promise.all(dirs.map((dataDir, i) => spawnChunkd(cleanup, { id: `cs${i}`, dataDir })));
    const ext = extentRef(procs, { extentSizeBytes: 8 * MiB });
    const primary = await connectData(cleanup, procs[0]!.address);
    const prng = new Prng(SEED);
    const model = Buffer.alloc(ext.extentSizeBytes);
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const len = prng.int(1, prng.chance(0.1) ? 1 * MiB : 16_384);
      const off = prng.int(0, ext.extentSizeBytes - len);
      const data = Buffer.from(prng.fill(new Uint8Array(len)));
      data.copy(model, off);
      writes.push(primary.write(ext, off, data, { fua: prng.chance(0.05) }));
    }
    const results = await Promise.allSettled(writes);
    expect(results.filter((r) => r.status === 'rejected'), `SEED=${SEED}`).toEqual([]);
    await primary.flush(ext);
    for (const p of procs) {
      const got = await (await connectData(cleanup, p.address)).read(ext, 0, ext.extentSizeBytes);
      expect(Buffer.compare(got.data, model), `replica ${p.id} SEED=${SEED}`).toBe(0);
    }

    // A flipped byte in one replica's extent file: that replica reports BASALT_CHECKSUM, another serves good data.
    const file = extentPath(procs[1]!.dataDir, ext.volumeId, ext.index);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([model[123_457]! ^ 0x01]), 0, 1, 123_457);
    fs.closeSync(fd);
    const second = await connectData(cleanup, procs[1]!.address);
    await expect(second.read(ext, 120_000, 10_000)).rejects.toMatchObject({ code: ErrorCode.Checksum });
    const third = await connectData(cleanup, procs[2]!.address);
    expect(Buffer.compare((await third.read(ext, 120_000, 10_000)).data, model.subarray(120_000, 130_000))).toBe(0);
    expect(sample(await scrape(procs[1]!.metricsAddress), 'basalt_chunk_checksum_errors_total{where="stored"}')).toBe(1);

    // Clean shutdown and restart on the same directories and ports: the data is still there.
    const exits = await Promise.all(procs.map((p) => stopChunkd(p)));
    expect(exits).toEqual([0, 0, 0]);
    procs = await Promise.all(procs.map((p, i) => spawnChunkd(cleanup, { id: p.id, dataDir: dirs[i]!, listen: p.address })));
    for (const p of [procs[0]!, procs[2]!]) {
      const got = await (await connectData(cleanup, p.address)).read(ext, 0, ext.extentSizeBytes);
      expect(Buffer.compare(got.data, model), `replica ${p.id} after restart`).toBe(0);
    }
    const info = await (await connectData(cleanup, procs[0]!.address)).info(ext);
    expect(info).toMatchObject({ epoch: 1, version: 300 });
  });
});
