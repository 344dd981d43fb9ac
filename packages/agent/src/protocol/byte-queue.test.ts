import { describe, expect, it } from 'vitest';
import { Prng } from '@basalt/stdx';
import { ByteQueue } from './byte-queue.js';

describe('ByteQueue', () => {
  it('returns bytes in order however they were chunked and taken', () => {
    const prng = new Prng(42);
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    const q = new ByteQueue();
    let pushed = 0;
    const out: Buffer[] = [];
    let taken = 0;
    while (taken < data.length) {
      if (pushed < data.length && (q.length === 0 || prng.chance(0.5))) {
        const n = Math.min(prng.int(1, 300), data.length - pushed);
        q.push(data.subarray(pushed, pushed + n));
        pushed += n;
      } else {
        const n = Math.min(prng.int(1, 400), q.length);
        if (prng.chance(0.2)) {
          q.skip(n);
          out.push(data.subarray(taken, taken + n));
        } else out.push(q.take(n));
        taken += n;
      }
      expect(q.length).toBe(pushed - taken);
    }
    expect(Buffer.concat(out).equals(data)).toBe(true);
  });

  it('asserts instead of reading past what it holds', () => {
    const q = new ByteQueue();
    q.push(Buffer.from('abc'));
    expect(() => q.take(4)).toThrow(/take\(4\) with 3 bytes/);
    expect(q.take(0).length).toBe(0);
  });

  it('assembles a message that spans chunks in the buffer alloc gives, and returns one inside a chunk as a view', () => {
    const q = new ByteQueue();
    const first = Buffer.from('abcdef');
    q.push(first);
    q.push(Buffer.from('ghij'));
    const asked: number[] = [];
    const target = Buffer.alloc(8);
    const alloc = (n: number): Buffer => (asked.push(n), target);
    const inside = q.take(2, alloc);
    expect(inside.buffer).toBe(first.buffer);
    expect(asked).toEqual([]);
    const spanning = q.take(8, alloc);
    expect(spanning).toBe(target);
    expect(spanning.toString()).toBe('cdefghij');
    expect(asked).toEqual([8]);
  });

  it('drainInto moves every queued byte, in order, after a partial take', () => {
    const q = new ByteQueue();
    q.push(Buffer.from([1, 2, 3]));
    q.push(Buffer.from([4, 5]));
    q.push(Buffer.from([6]));
    expect([...q.take(2)]).toEqual([1, 2]);
    const target = Buffer.alloc(6);
    expect(q.drainInto(target)).toBe(4);
    expect([...target]).toEqual([3, 4, 5, 6, 0, 0]);
    expect(q.length).toBe(0);
    q.push(Buffer.from([7]));
    expect([...q.take(1)]).toEqual([7]);
    expect(() => { q.push(Buffer.from([1, 2])); q.drainInto(Buffer.alloc(1)); }).toThrow(/drainInto/);
  });
});
