import { describe, expect, it } from 'vitest';
import { limits, Prng } from '@basalt/stdx';
import { responseMagic } from './constants.js';
import { FrameReads } from './frame-reads.js';
import { FrameSplitter, type SplitResult } from './frame-splitter.js';

const SEED = Number(process.env.SEED ?? 4242);

/** A frame of `bodyBytes` bytes: the prefix, then a fill (the splitter reads no further). */
function frameOf(bodyBytes: number, fill: number): Buffer {
  const frame = Buffer.alloc(8 + bodyBytes, fill);
  frame.writeUInt32BE(responseMagic, 0);
  frame.writeUInt32BE(bodyBytes, 4);
  return frame;
}

describe('frame reads (onread)', () => {
  it('hands what was read before attach() over first, in order', () => {
    const prng = new Prng(SEED);
    const reads = new FrameReads(new FrameSplitter(responseMagic, limits.dataFrameBytesMax));
    const sent = [10, 20, 30].map((n) => frameOf(n, prng.int(0, 255)));
    const read = (frame: Buffer): void => {
      const target = (reads.onread.buffer as () => Buffer)();
      frame.copy(target);
      expect(reads.onread.callback(frame.length, target)).toBe(true);
    };
    read(sent[0]!);
    read(sent[1]!);
    const got: SplitResult[] = [];
    reads.attach((split) => got.push(split));
    read(sent[2]!);
    expect(got.map((s) => s.frames.map((f) => f.length))).toEqual([[18], [28], [38]]);
    got.forEach((s, i) => expect(Buffer.compare(s.frames[0]!, sent[i]!)).toBe(0));
  });
});
