import { describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, isBasaltError, Prng } from '@basalt/stdx';
import type { BlockDevice, Extent } from './block-device.js';
import { WriteBackDevice, WriteCacheBudget, type WriteCacheMode } from './write-cache.js';

/**
 * An in-memory device whose writes complete only when the test releases them (in any order it
 * likes), so that the cache's ordering rules are exercised deterministically.
 */
class HeldDevice implements BlockDevice {
  readonly sizeBytes = 1 << 20;
  readonly bytes = Buffer.alloc(this.sizeBytes);
  readonly held: { offset: number; data: Buffer; release: () => void; reject: (err: Error) => void }[] = [];
  readonly log: string[] = [];
  hold = true;

  write(offset: number, data: Buffer, options: { fua: boolean }): Promise<void> {
    this.log.push(`write ${offset}+${data.length}${options.fua ? ' fua' : ''}`);
    const apply = (): void => void data.copy(this.bytes, offset);
    if (!this.hold) {
      apply();
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.held.push({ offset, data, release: () => (apply(), resolve()), reject }));
  }

  read(offset: number, length: number): Promise<Buffer> {
    this.log.push(`read ${offset}+${length}`);
    return Promise.resolve(Buffer.from(this.bytes.subarray(offset, offset + length)));
  }

  flush(): Promise<void> {
    this.log.push('flush');
    return Promise.resolve();
  }

  trim(offset: number, length: number): Promise<void> {
    this.log.push(`trim ${offset}+${length}`);
    this.bytes.fill(0, offset, offset + length);
    return Promise.resolve();
  }

  writeZeroes(offset: number, length: number): Promise<void> {
    return this.trim(offset, length);
  }

  allocation(_offset: number, length: number): Promise<Extent[]> {
    return Promise.resolve([{ lengthBytes: length, hole: false }]);
  }

  close(): Promise<void> {
    this.log.push('close');
    return Promise.resolve();
  }

  /** Completes the held write at `index` (default: the oldest). */
  release(index = 0): void {
    this.held.splice(index, 1)[0]!.release();
  }
}

function cache(mode: WriteCacheMode, budget = new WriteCacheBudget(1 << 20, 64)): { inner: HeldDevice; dev: WriteBackDevice; failures: BasaltError[]; budget: WriteCacheBudget } {
  const inner = new HeldDevice();
  const failures: BasaltError[] = [];
  return { inner, dev: new WriteBackDevice(inner, mode, budget, (e) => failures.push(e)), failures, budget };
}

/** Lets every settled promise run its callbacks. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function isDone(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  await settle();
  return done;
}

describe('write-back cache', () => {
  it('takes write payloads from the inner device and hands a cached write\'s payload to it uncopied, so it can take it back once stored', async () => {
    const { inner, dev } = cache('writeback');
    expect(dev.writeBuffer).toBeUndefined();
    const lent: Buffer[] = [];
    const pooled = Object.assign(inner, { writeBuffer: (length: number) => (lent.push(Buffer.alloc(length)), lent[lent.length - 1]!) });
    const wb = new WriteBackDevice(pooled, 'writeback', new WriteCacheBudget(1 << 20, 64), () => undefined);
    const payload = wb.writeBuffer!(4096);
    expect(lent).toEqual([payload]);
    expect(await isDone(wb.write(0, payload, { fua: false }))).toBe(true);
    expect(inner.held[0]!.data).toBe(payload);
  });

  it('acknowledges a plain write before it is stored, and FLUSH waits for it', async () => {
    const { inner, dev } = cache('writeback');
    expect(await isDone(dev.write(0, Buffer.alloc(4096, 1), { fua: false }))).toBe(true);
    expect(inner.held).toHaveLength(1);
    const flushed = dev.flush();
    expect(await isDone(flushed)).toBe(false);
    inner.release();
    await flushed;
    expect(inner.log).toEqual(['write 0+4096', 'flush']);
  });

  it('never caches FUA writes, and writes through until the first FLUSH in auto mode', async () => {
    const { inner, dev } = cache('auto');
    expect(await isDone(dev.write(0, Buffer.alloc(512, 1), { fua: false }))).toBe(false);
    inner.release();
    await dev.flush();
    expect(await isDone(dev.write(0, Buffer.alloc(512, 2), { fua: true }))).toBe(false);
    inner.release();
    expect(await isDone(dev.write(0, Buffer.alloc(512, 3), { fua: false }))).toBe(true);
    inner.release();
    await dev.flush();
  });

  it('makes reads and overlapping writes wait for cached writes, in acknowledgement order', async () => {
    const { inner, dev } = cache('writeback');
    await dev.write(0, Buffer.alloc(8192, 1), { fua: false });
    await dev.write(4096, Buffer.alloc(8192, 2), { fua: false }); // overlaps the first: not sent yet
    await dev.write(65536, Buffer.alloc(4096, 3), { fua: false }); // independent: sent at once
    expect(inner.held.map((h) => h.offset)).toEqual([0, 65536]);
    const read = dev.read(0, 16384);
    const independent = dev.read(131072, 4096);
    expect(await isDone(independent)).toBe(true);
    expect(await isDone(read)).toBe(false);
    inner.release(1); // the independent write may finish first
    inner.release(0);
    await settle();
    expect(inner.held.map((h) => h.offset)).toEqual([4096]); // the second one only now
    inner.release();
    const got = await read;
    expect(got.subarray(0, 4096).every((b) => b === 1) && got.subarray(4096, 12288).every((b) => b === 2) && got.subarray(12288).every((b) => b === 0)).toBe(true);
  });

  it('writes through while the shared budget is full', async () => {
    const budget = new WriteCacheBudget(10_000, 2);
    const { inner, dev } = cache('writeback', budget);
    expect(await isDone(dev.write(0, Buffer.alloc(4096), { fua: false }))).toBe(true);
    expect(await isDone(dev.write(8192, Buffer.alloc(4096), { fua: false }))).toBe(true);
    expect(budget).toMatchObject({ bytes: 8192, writes: 2 });
    const third = dev.write(16384, Buffer.alloc(4096), { fua: false });
    expect(await isDone(third)).toBe(false);
    inner.release();
    inner.release();
    inner.release();
    await third;
    await settle();
    expect(budget).toMatchObject({ bytes: 0, writes: 0 });
  });

  it('keeps a failed cached write: every later FLUSH and close fail with its code, and caching stops', async () => {
    const { inner, dev, failures } = cache('writeback');
    await dev.write(0, Buffer.alloc(4096), { fua: false });
    inner.held[0]!.reject(new BasaltError(ErrorCode.NoSpace, 'disk full'));
    inner.held.splice(0, 1);
    for (let i = 0; i < 2; i++) {
      const err: unknown = await dev.flush().catch((e: unknown) => e);
      expect(isBasaltError(err) && err.code === ErrorCode.NoSpace && /could not be stored: disk full/.test(err.message)).toBe(true);
    }
    expect(failures).toHaveLength(1);
    expect(await isDone(dev.write(0, Buffer.alloc(4096), { fua: false }))).toBe(false); // written through now
    inner.release();
    const closed: unknown = await dev.close().catch((e: unknown) => e);
    expect(isBasaltError(closed) && closed.code === ErrorCode.NoSpace).toBe(true);
    expect(inner.log).not.toContain('flush');
    expect(inner.log).toContain('close');
  });

  it('reads back what a random mix of cached writes, trims and reads leaves, against a model', async () => {
    // A client that waits for each reply before its next request; stored writes complete in random order.
    const prng = new Prng(11);
    const { inner, dev } = cache('writeback', new WriteCacheBudget(64 * 1024, 16));
    const model = Buffer.alloc(inner.sizeBytes);
    for (let i = 0; i < 400; i++) {
      const len = prng.int(1, 9000);
      const off = prng.int(0, 256 * 1024 - len);
      const r = prng.int(0, 9);
      let op: Promise<unknown>;
      if (r < 6) {
        const data = Buffer.alloc(len, prng.int(1, 255));
        data.copy(model, off);
        op = dev.write(off, data, { fua: r === 0 });
      } else if (r < 7) {
        model.fill(0, off, off + len);
        op = dev.trim(off, len);
      } else {
        const want = Buffer.from(model.subarray(off, off + len));
        op = dev.read(off, len).then((got) => expect(got.equals(want), `read ${off}+${len} at op ${i}`).toBe(true));
      }
      while (!(await isDone(op))) if (inner.held.length > 0) inner.release(prng.int(0, inner.held.length - 1));
      await op;
      while (inner.held.length > 0 && prng.chance(0.3)) inner.release(prng.int(0, inner.held.length - 1));
    }
    const flushed = dev.flush();
    while (!(await isDone(flushed))) while (inner.held.length > 0) inner.release(prng.int(0, inner.held.length - 1));
    await flushed;
    expect(inner.bytes.equals(model)).toBe(true);
  });
});
