import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, isBasaltError, KiB } from '@basalt/stdx';
import { InlineIo } from './inline-io.js';

let dir: string;
let fd: number;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-inline-io-'));
  fd = fs.openSync(path.join(dir, 'f'), 'w+');
});

afterEach(() => {
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A clock that advances by `step` ms on every reading after arm(). */
function clock(): { now: () => number; set: (ms: number) => void; arm: (step: number) => void } {
  let t = 0;
  let step = 0;
  return {
    now: () => {
      const v = t;
      t += step;
      return v;
    },
    set: (ms) => (t = ms),
    arm: (s) => (step = s),
  };
}

describe('inline I/O policy', () => {
  it('writes small buffers inline and large ones in the pool, with the same bytes on disk', async () => {
    const io = new InlineIo(8 * KiB);
    await io.write(fd, Buffer.alloc(8 * KiB, 1), 0, 'w');
    await io.write(fd, Buffer.alloc(8 * KiB + 1, 2), 8 * KiB, 'w');
    expect(io.ops).toEqual({ inline: 1, pool: 1 });
    const back = fs.readFileSync(path.join(dir, 'f'));
    expect(back.subarray(0, 8 * KiB).every((b) => b === 1)).toBe(true);
    expect(back.subarray(8 * KiB).every((b) => b === 2)).toBe(true);
    expect(back.length).toBe(16 * KiB + 1);
  });

  it('reads past the end of the file as zeros in both modes', async () => {
    fs.writeSync(fd, Buffer.alloc(100, 7), 0, 100, 0);
    const inline = await new InlineIo(4 * KiB).read(fd, 300, 0, 'r');
    const pool = await new InlineIo(0).read(fd, 300, 0, 'r');
    expect(inline).toEqual(pool);
    expect(inline.subarray(0, 100).every((b) => b === 7) && inline.subarray(100).every((b) => b === 0)).toBe(true);
  });

  it('sends reads to the pool for a while once several recent inline reads were slow, then tries inline again', async () => {
    const c = clock();
    const io = new InlineIo(4 * KiB, c.now, 0.2, 1000);
    const slowRead = async (): Promise<void> => {
      c.arm(5); // this inline read "takes" 5 ms: it went to the disk
      await io.read(fd, 4 * KiB, 0, 'r');
      c.arm(0);
    };
    await io.read(fd, 4 * KiB, 0, 'r');
    await slowRead();
    for (let i = 0; i < 40; i++) await io.read(fd, 4 * KiB, 0, 'r'); // one slow read alone does not switch
    await slowRead(); // only this one and the next two are in the window of the last 32
    await slowRead();
    await slowRead();
    expect(io.slowReads).toBe(4);
    expect(io.ops).toEqual({ inline: 45, pool: 0 });
    await slowRead(); // the fourth slow read of the window: switch to the pool
    await io.read(fd, 4 * KiB, 0, 'r');
    await io.write(fd, Buffer.alloc(4 * KiB), 0, 'w'); // writes stay inline
    expect(io.ops).toEqual({ inline: 47, pool: 1 });
    c.set(c.now() + 2000);
    await io.read(fd, 4 * KiB, 0, 'r');
    await slowRead(); // the window started afresh: one slow read does not switch
    await io.read(fd, 4 * KiB, 0, 'r');
    expect(io.ops).toEqual({ inline: 50, pool: 1 });
  });

  it('turns an inline failure into a typed error', async () => {
    const readOnly = fs.openSync(path.join(dir, 'f'), 'r');
    try {
      const err: unknown = await new InlineIo(4 * KiB).write(readOnly, Buffer.alloc(10), 0, 'write x').catch((e: unknown) => e);
      expect(isBasaltError(err) && err.code === ErrorCode.Io && err.message.startsWith('write x') && err.details.errno === 'EBADF').toBe(true);
    } finally {
      fs.closeSync(readOnly);
    }
  });
});
