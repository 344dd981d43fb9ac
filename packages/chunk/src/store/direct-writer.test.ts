import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, KiB, MiB } from '@basalt/stdx';
import { AlignedSlabs, DirectWriter } from './direct-writer.js';
import type { ExtentFiles } from './extent-files.js';
import { ioError } from './fs-io.js';

const dirs: string[] = [];
const fds: number[] = [];

afterEach(() => {
  for (const fd of fds.splice(0)) fs.closeSync(fd);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A 1 MiB file on the temp directory's filesystem (ext4 on the project machine), open buffered. */
function file(parent = os.tmpdir()): ExtentFiles {
  const dir = fs.mkdtempSync(path.join(parent, 'basalt-direct-'));
  dirs.push(dir);
  const p = path.join(dir, '0.extent');
  const fd = fs.openSync(p, 'w+');
  fds.push(fd);
  fs.ftruncateSync(fd, 1 * MiB);
  return { fd, path: p, sidecarAt: 1 * MiB, stampsAt: 1 * MiB };
}

const bytes = (n: number, byte: number): Buffer => Buffer.alloc(n, byte);

function readBack(f: ExtentFiles, at: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  fs.readSync(f.fd, out, 0, n, at);
  return out;
}

describe('aligned slabs', () => {
  it('hands out at most maxBytes of slabs, reuses the last one given back, and each starts on a 4 KiB boundary of its memory', () => {
    const slabs = new AlignedSlabs(64 * KiB, 192 * KiB);
    const taken = [slabs.take()!, slabs.take()!, slabs.take()!];
    expect(taken.map((s) => s.byteOffset)).toEqual([0, 64 * KiB, 128 * KiB]);
    expect(slabs.take()).toBeUndefined();
    slabs.give(taken[1]!);
    expect(slabs.take()!.byteOffset).toBe(64 * KiB);
    expect(() => slabs.give(Buffer.alloc(64 * KiB))).toThrow();
  });
});

describe('direct writer on a real file', () => {
  const writer = (): DirectWriter => new DirectWriter(new AlignedSlabs(64 * KiB, 128 * KiB), () => undefined);

  it('a direct write over blocks written buffered (dirty in the page cache) reads back as the direct data', async () => {
    const f = file();
    const w = writer();
    fs.writeSync(f.fd, bytes(256 * KiB, 1), 0, 256 * KiB, 0);
    // 200 KiB: more than one slab, so written in pieces.
    expect(await w.write(f, bytes(200 * KiB, 2), 16 * KiB, 'test write')).toBe(true);
    expect(readBack(f, 0, 256 * KiB)).toEqual(Buffer.concat([bytes(16 * KiB, 1), bytes(200 * KiB, 2), bytes(40 * KiB, 1)]));
    expect(w.ops.direct).toBe(1);
    await w.close(f);
  });

  it('a buffered partial write over direct-written blocks reads back merged', async () => {
    const f = file();
    const w = writer();
    expect(await w.write(f, bytes(64 * KiB, 3), 0, 'test write')).toBe(true);
    fs.writeSync(f.fd, bytes(100, 4), 0, 100, 5000);
    expect(readBack(f, 0, 64 * KiB)).toEqual(Buffer.concat([bytes(5000, 3), bytes(100, 4), bytes(64 * KiB - 5100, 3)]));
    await w.close(f);
  });

  it('a direct write over blocks a read had cached replaces them in the cache', async () => {
    const f = file();
    const w = writer();
    fs.writeSync(f.fd, bytes(128 * KiB, 5), 0, 128 * KiB, 0);
    fs.fdatasyncSync(f.fd);
    expect(readBack(f, 0, 128 * KiB)).toEqual(bytes(128 * KiB, 5)); // now clean and cached
    expect(await w.write(f, bytes(64 * KiB, 6), 32 * KiB, 'test write')).toBe(true);
    expect(readBack(f, 0, 128 * KiB)).toEqual(Buffer.concat([bytes(32 * KiB, 5), bytes(64 * KiB, 6), bytes(32 * KiB, 5)]));
    await w.close(f);
  });

  it('leaves a write to the caller when every slab is in use, and counts it', async () => {
    const f = file();
    const w = new DirectWriter(new AlignedSlabs(64 * KiB, 64 * KiB), () => undefined);
    const [first, second] = await Promise.all([w.write(f, bytes(64 * KiB, 7), 0, 'test write'), w.write(f, bytes(64 * KiB, 8), 64 * KiB, 'test write')]);
    expect([first, second]).toEqual([true, false]);
    expect(w.ops).toEqual({ direct: 1, noSlab: 1 });
    await w.close(f);
  });

  it('turns itself off, once, with a log line, where the filesystem refuses O_DIRECT at open (EINVAL)', async () => {
    const lines: string[] = [];
    const refused = (): Promise<number> => Promise.reject(ioError(Object.assign(new Error('EINVAL: invalid argument'), { code: 'EINVAL' }), 'open'));
    const w = new DirectWriter(new AlignedSlabs(64 * KiB, 64 * KiB), (l) => lines.push(l), refused);
    const f = file();
    expect(await w.write(f, bytes(64 * KiB, 9), 0, 'test write')).toBe(false);
    expect(await w.write(f, bytes(64 * KiB, 9), 0, 'test write')).toBe(false);
    expect(w.unsupported).toMatch(/O_DIRECT/);
    expect(lines).toHaveLength(1);
    await w.close(f);
  });

  it('turns itself off when a direct write fails with EINVAL (memory O_DIRECT cannot use), and gives the slab back', async () => {
    const lines: string[] = [];
    // One byte past any alignment the backing store has: never 512-byte aligned.
    const odd = Buffer.from(new ArrayBuffer(64 * KiB + 1), 1, 64 * KiB);
    const given: Buffer[] = [];
    const w = new DirectWriter({ take: () => odd, give: (b) => given.push(b) }, (l) => lines.push(l));
    const f = file();
    expect(await w.write(f, bytes(64 * KiB, 9), 0, 'test write')).toBe(false);
    expect(given).toEqual([odd]);
    expect(w.unsupported).toMatch(/EINVAL/);
    expect(lines).toHaveLength(1);
    await w.close(f);
  });

  it('maps other errors of a direct write as a buffered write does (EBADF: BASALT_IO)', async () => {
    const w = new DirectWriter(new AlignedSlabs(64 * KiB, 64 * KiB), () => undefined, () => Promise.resolve(1_000_000));
    const err: unknown = await w.write(file(), bytes(64 * KiB, 9), 0, 'test write').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.Io, details: { errno: 'EBADF' } });
    expect(w.unsupported).toBeUndefined();
  });
});
