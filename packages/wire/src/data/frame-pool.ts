import { assert } from '@basalt/stdx';

/**
 * Recycled memory for large frames. A fresh 1 MiB Buffer costs page faults on first touch and
 * an munmap when collected: measured here, allocating and filling one took 1-4.6 ms against
 * 0.05-0.1 ms for refilling a reused one, and the garbage collector ran more often.
 *
 * take(n) hands out n bytes at the start of a buffer of a size class: a power of two 2^c plus
 * 2^(c-7), room above the data for a frame's fixed header and its per-block CRCs (4 bytes per
 * 4 KiB, 1/1024 of the data), so a frame of 1 MiB of data takes 1 MiB + 8 KiB, not 2 MiB. give(frame)
 * returns it (or a view into it, such as a reply's payload) once nothing reads any part of it
 * any more (the caller's promise). Buffers not from this pool are ignored by give(). At most
 * freeBytesMax bytes wait in the free lists.
 */
const classLog2Min = 16;
const classLog2Max = 23;

/** Bytes of the buffers of class c. */
function classBytes(c: number): number {
  return 2 ** c + 2 ** (c - 7);
}

/** The smallest class whose buffers hold n bytes (may be above classLog2Max). */
function classOf(n: number): number {
  const c = Math.max(classLog2Min, Math.ceil(Math.log2(n)) - 1);
  return classBytes(c) >= n ? c : c + 1;
}

export class FramePool {
  private readonly free: ArrayBuffer[][] = [];
  private readonly ours = new WeakSet<ArrayBuffer>();
  private freeBytes = 0;

  constructor(private readonly freeBytesMax: number) {
    for (let c = classLog2Min; c <= classLog2Max; c++) this.free.push([]);
  }

  /** n bytes of pooled memory, or undefined when n is outside the pooled sizes. */
  take(n: number): Buffer | undefined {
    const c = classOf(n);
    if (c > classLog2Max) return undefined;
    const list = this.free[c - classLog2Min]!;
    let ab = list.pop();
    if (ab === undefined) {
      ab = new ArrayBuffer(classBytes(c));
      this.ours.add(ab);
    } else {
      this.freeBytes -= ab.byteLength;
    }
    return Buffer.from(ab, 0, n);
  }

  /** Whether `frame` (or the buffer it views) came from this pool's take(), or adopt(). */
  owns(frame: Uint8Array): boolean {
    const ab = frame.buffer;
    return ab instanceof ArrayBuffer && this.ours.has(ab);
  }

  /**
   * Makes a buffer of this pool's sizes that another thread's pool handed out (transferred here
   * with postMessage) one of this pool's, and gives it back: buffers then circulate between two
   * threads' pools without copies.
   */
  adopt(ab: ArrayBuffer): void {
    const c = classOf(ab.byteLength);
    assert(c >= classLog2Min && c <= classLog2Max && classBytes(c) === ab.byteLength, 'an adopted buffer has a class size');
    this.ours.add(ab);
    this.give(Buffer.from(ab));
  }

  /** Returns a frame from take(), given as itself or any view into it; nothing may read or write any of it afterwards. */
  give(frame: Buffer): void {
    const ab = frame.buffer;
    if (!(ab instanceof ArrayBuffer) || !this.ours.has(ab)) return;
    if (this.freeBytes + ab.byteLength > this.freeBytesMax) return;
    const c = classOf(ab.byteLength);
    assert(c >= classLog2Min && c <= classLog2Max && classBytes(c) === ab.byteLength, 'pooled buffers have a class size');
    const list = this.free[c - classLog2Min]!;
    assert(!list.includes(ab), 'a frame is given back once');
    list.push(ab);
    this.freeBytes += ab.byteLength;
  }
}
