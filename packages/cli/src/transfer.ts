import fs from 'node:fs';
import { BasaltError, ErrorCode, invalidArgument, MiB } from '@basalt/stdx';
import type { Volume } from '@basalt/client';
import type { Progress } from './progress.js';

/**
 * Copies between a local file and a volume in blocks, several in flight. Both directions are
 * sparse-aware: all-zero blocks of the file become write-zeroes (a no-op on never-written extents),
 * and holes of the volume are not written to the file (it is created sparse).
 */
export const transferBlockBytes = MiB;
const inflightBlocks = 8;

/** Imports `path` into the volume from offset 0; returns the bytes copied. */
export async function importFile(volume: Volume, path: string, progress: (total: number) => Progress): Promise<number> {
  const fd = await open(path, 'r');
  try {
    const total = (await fstat(fd)).size;
    if (total > volume.size) throw invalidArgument(`${path} holds ${total} bytes, more than volume ${volume.name} (${volume.size} bytes); grow it with "basalt volume resize"`);
    const bar = progress(total);
    await eachBlock(total, async (offset, length) => {
      const buf = Buffer.allocUnsafe(length);
      await readFully(fd, buf, offset, path);
      if (isZero(buf)) await volume.writeZeroes(offset, length);
      else await volume.write(offset, buf);
      bar.add(length);
    });
    await volume.flush();
    bar.finish();
    return total;
  } finally {
    fs.close(fd, () => undefined);
  }
}

/** Exports the whole volume to `path` (created or truncated, sparse); returns the bytes copied. */
export async function exportFile(volume: Volume, path: string, progress: (total: number) => Progress): Promise<number> {
  const fd = await open(path, 'w');
  try {
    await truncate(fd, volume.size);
    const bar = progress(volume.size);
    const holes = await volume.allocation(0, volume.size);
    await eachBlock(volume.size, async (offset, length) => {
      if (!inHole(holes, offset, length)) {
        const buf = await volume.read(offset, length);
        if (!isZero(buf)) await writeFully(fd, buf, offset, path);
      }
      bar.add(length);
    });
    await sync(fd);
    bar.finish();
    return volume.size;
  } finally {
    fs.close(fd, () => undefined);
  }
}

async function eachBlock(total: number, fn: (offset: number, length: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: inflightBlocks }, async () => {
    while (next < total) {
      const offset = next;
      next += transferBlockBytes;
      await fn(offset, Math.min(transferBlockBytes, total - offset));
    }
  }));
}

function inHole(runs: readonly { offset: number; length: number; hole: boolean }[], offset: number, length: number): boolean {
  return runs.some((r) => r.hole && r.offset <= offset && offset + length <= r.offset + r.length);
}

function isZero(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

function ioError(what: string, path: string, err: NodeJS.ErrnoException): BasaltError {
  return new BasaltError(err.code === 'ENOSPC' ? ErrorCode.NoSpace : ErrorCode.Io, `${what} ${path}: ${err.message}`, { path });
}

function open(path: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, (err, fd) => (err ? reject(new BasaltError(ErrorCode.InvalidArgument, `cannot open ${path}: ${err.message}`, { path })) : resolve(fd))));
}

function fstat(fd: number): Promise<fs.Stats> {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))));
}

function truncate(fd: number, size: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, size, (err) => (err ? reject(err) : resolve())));
}

function sync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

async function readFully(fd: number, buf: Buffer, position: number, path: string): Promise<void> {
  for (let done = 0; done < buf.length;) {
    const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, done, buf.length - done, position + done, (err, bytes) => (err ? reject(ioError('read', path, err)) : resolve(bytes))));
    if (n === 0) throw new BasaltError(ErrorCode.Io, `${path} ended early at byte ${position + done}`, { path });
    done += n;
  }
}

async function writeFully(fd: number, buf: Buffer, position: number, path: string): Promise<void> {
  for (let done = 0; done < buf.length;) {
    done += await new Promise<number>((resolve, reject) => fs.write(fd, buf, done, buf.length - done, position + done, (err, bytes) => (err ? reject(ioError('write', path, err)) : resolve(bytes))));
  }
}
