import fs from 'node:fs';
import { assert, isBasaltError, ErrorCode, limits } from '@basalt/stdx';
import type { ExtentFiles } from './extent-files.js';
import { blockBytes } from './sidecar.js';
import { closeFile, openFile, writeFully } from './fs-io.js';

const wasmPageBytes = 65536;

/** WebAssembly.Memory, which the TypeScript libraries of this project do not declare. */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => WasmMemory } }).WebAssembly.Memory;

/**
 * Page-aligned slabs for O_DIRECT writes, carved from one WebAssembly.Memory: its buffer starts
 * on a page boundary, where Node's Buffers are only 8- or 16-byte aligned (O_DIRECT refuses them
 * with EINVAL). Pages count in RSS once first used; slabs are reused last-in first-out, so the
 * memory touched is the most slabs ever in use at once.
 */
export class AlignedSlabs {
  private readonly memory: WasmMemory;
  private readonly free: number[] = [];
  private carved = 0;

  constructor(
    readonly slabBytes: number = limits.chunkDirectSlabBytes,
    readonly maxBytes: number = limits.chunkDirectSlabsBytesMax,
  ) {
    assert(slabBytes % wasmPageBytes === 0 && maxBytes % slabBytes === 0, 'aligned slabs are whole WebAssembly pages, the memory whole slabs');
    this.memory = new WasmMemory({ initial: maxBytes / wasmPageBytes, maximum: maxBytes / wasmPageBytes });
  }

  /** A free slab, or undefined when all are in use. */
  take(): Buffer | undefined {
    const at = this.free.pop() ?? (this.carved < this.maxBytes ? this.carve() : undefined);
    return at === undefined ? undefined : Buffer.from(this.memory.buffer, at, this.slabBytes);
  }

  give(slab: Buffer): void {
    assert(slab.buffer === this.memory.buffer && slab.length === this.slabBytes, 'a slab goes back to the pool it came from');
    this.free.push(slab.byteOffset);
  }

  private carve(): number {
    const at = this.carved;
    this.carved += this.slabBytes;
    return at;
  }
}

/**
 * Writes whole blocks of extent files with O_DIRECT, past the page cache, through a second file
 * descriptor per extent file (opened on first use): the data is copied into an aligned slab and
 * written from there, a slab at a time. Linux keeps the two descriptors coherent (a direct write
 * writes back and drops cached pages of its range first; nothing maps extent files), and an
 * fdatasync of either descriptor covers both, since it syncs the file.
 *
 * write() resolves false when the caller should write buffered instead: every slab is in use, or
 * the filesystem refuses O_DIRECT (EINVAL, e.g. tmpfs). The latter turns direct writes off for
 * the store, once, with a log line (`unsupported` says why). Other errors (ENOSPC, EIO) reject as
 * a buffered write's do.
 */
export class DirectWriter {
  private readonly fds = new Map<ExtentFiles, Promise<number | undefined>>();
  /** Why direct writes are off, once the filesystem refused them. */
  unsupported: string | undefined;
  /** Writes done direct, and large member writes done buffered since every slab was in use. */
  readonly ops = { direct: 0, noSlab: 0 };

  constructor(
    private readonly slabs: Pick<AlignedSlabs, 'take' | 'give'>,
    private readonly log: (line: string) => void,
    private readonly openDirect: (path: string) => Promise<number> = (p) => openFile(p, fs.constants.O_WRONLY | fs.constants.O_DIRECT, 'open extent file for direct writes'),
  ) {}

  async write(files: ExtentFiles, buf: Uint8Array, position: number, what: string): Promise<boolean> {
    assert(position % blockBytes === 0 && buf.length % blockBytes === 0, 'a direct write is whole blocks');
    if (this.unsupported !== undefined) return false;
    const fd = await this.fdOf(files);
    if (fd === undefined) return false;
    const slab = this.slabs.take();
    if (slab === undefined) {
      this.ops.noSlab++;
      return false;
    }
    try {
      for (let done = 0; done < buf.length; done += slab.length) {
        const n = Math.min(slab.length, buf.length - done);
        slab.set(buf.subarray(done, done + n));
        await writeFully(fd, slab.subarray(0, n), position + done, what);
      }
    } catch (err) {
      if (!isBasaltError(err, ErrorCode.Io) || err.details.errno !== 'EINVAL') throw err;
      this.turnOff(`${what} with O_DIRECT failed with EINVAL`);
      return false;
    } finally {
      this.slabs.give(slab);
    }
    this.ops.direct++;
    return true;
  }

  /** Closes the extent file's direct descriptor, if it has one. */
  async close(files: ExtentFiles): Promise<void> {
    const fd = await this.fds.get(files);
    this.fds.delete(files);
    if (fd !== undefined) await closeFile(fd);
  }

  private fdOf(files: ExtentFiles): Promise<number | undefined> {
    let fd = this.fds.get(files);
    if (fd === undefined) {
      fd = this.openDirect(files.path).then(
        (opened) => opened,
        (err: unknown) => {
          this.fds.delete(files);
          if (isBasaltError(err, ErrorCode.Io) && err.details.errno === 'EINVAL') this.turnOff(`the filesystem of ${files.path} refuses O_DIRECT`);
          return undefined;
        },
      );
      this.fds.set(files, fd);
    }
    return fd;
  }

  private turnOff(why: string): void {
    if (this.unsupported !== undefined) return;
    this.unsupported = why;
    this.log(`direct writes are off for this store, members' data is written through the page cache: ${why}`);
  }
}
