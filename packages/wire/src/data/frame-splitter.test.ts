import { describe, expect, it } from 'vitest';
import { KiB, limits, MiB, Prng } from '@basalt/stdx';
import { requestMagic, responseMagic } from './constants.js';
import { FramePool } from './frame-pool.js';
import { FrameSplitter } from './frame-splitter.js';

const SEED = Number(process.env.SEED ?? 4242);

/** A frame of `bodyBytes` random bytes behind the prefix (the splitter reads no further). */
function rawFrame(prng: Prng, magic: number, bodyBytes: number): Buffer {
  const frame = Buffer.from(prng.fill(new Uint8Array(8 + bodyBytes)));
  frame.writeUInt32BE(magic, 0);
  frame.writeUInt32BE(bodyBytes, 4);
  return frame;
}

/**
 * A socket reading `stream` with `onread`: each read fills at most `readMax` bytes (a TLS record
 * is at most 16 KiB) of the buffer the splitter picks. The staging buffer is scribbled over after
 * each read, as the next read would. Returns the frames and, per frame, whether its last read went
 * into the frame's own memory.
 */
function readAll(splitter: FrameSplitter, stream: Buffer, prng: Prng, readMax: number): { frames: Buffer[]; inPlace: boolean[] } {
  const staging = Buffer.alloc(limits.connectionReadStagingBytes);
  const frames: Buffer[] = [];
  const inPlace: boolean[] = [];
  for (let pos = 0; pos < stream.length; ) {
    const target = splitter.readTarget(staging);
    expect(target.length).toBeGreaterThan(0);
    const n = Math.min(prng.int(1, readMax), target.length, stream.length - pos);
    stream.copy(target, 0, pos, pos + n);
    pos += n;
    const split = splitter.pushRead(target, n);
    expect(split.kind, `SEED=${SEED}`).toBe('frames');
    for (const f of split.frames) {
      frames.push(f);
      inPlace.push(target !== staging && f.buffer === target.buffer);
    }
    if (target === staging) staging.fill(0xee, 0, n);
  }
  return { frames, inPlace };
}

describe('frame splitter, reads in place', () => {
  it('yields the same frames however the reads are cut, and reads each frame that spans reads into its own buffer', () => {
    const prng = new Prng(SEED);
    const sent = Array.from({ length: 40 }, () => rawFrame(prng, responseMagic, prng.chance(0.3) ? prng.int(32 * KiB, 300 * KiB) : prng.int(0, 300)));
    for (const readMax of [61, 16 * KiB, 200 * KiB]) {
      const splitter = new FrameSplitter(responseMagic, limits.dataFrameBytesMax);
      const { frames, inPlace } = readAll(splitter, Buffer.concat(sent), prng, readMax);
      expect(frames.length, `SEED=${SEED} readMax=${readMax}`).toBe(sent.length);
      frames.forEach((f, i) => expect(Buffer.compare(f, sent[i]!), `SEED=${SEED} frame ${i}`).toBe(0));
      // A frame larger than the staging buffer always spans reads: its tail is read where it stays.
      sent.forEach((f, i) => {
        if (f.length > limits.connectionReadStagingBytes) expect(inPlace[i], `SEED=${SEED} frame ${i}`).toBe(true);
      });
      expect(splitter.pendingBytes).toBe(0);
    }
  });

  it('assembles a frame that spans reads in memory from its pool', () => {
    const prng = new Prng(SEED + 1);
    const pool = new FramePool(8 * MiB);
    const splitter = new FrameSplitter(responseMagic, limits.dataFrameBytesMax, pool);
    const sent = rawFrame(prng, responseMagic, MiB);
    const { frames } = readAll(splitter, sent, prng, 16 * KiB);
    expect(frames.length).toBe(1);
    expect(pool.owns(frames[0]!)).toBe(true);
    expect(Buffer.compare(frames[0]!, sent)).toBe(0);
  });

  it('never offers a read past the end of the frame in place', () => {
    const prng = new Prng(SEED + 2);
    const splitter = new FrameSplitter(responseMagic, limits.dataFrameBytesMax);
    const staging = Buffer.alloc(limits.connectionReadStagingBytes);
    const frame = rawFrame(prng, responseMagic, 100 * KiB);
    frame.copy(staging, 0, 0, 1000);
    expect(splitter.pushRead(staging, 1000).frames).toEqual([]);
    const rest = splitter.readTarget(staging);
    expect(rest.length).toBe(frame.length - 1000);
    expect(splitter.pendingBytes).toBe(1000);
  });

  it('refuses bad magic read into the staging buffer, and stays broken', () => {
    const splitter = new FrameSplitter(requestMagic, limits.dataFrameBytesMax);
    const staging = Buffer.alloc(limits.connectionReadStagingBytes);
    staging.writeUInt32BE(responseMagic, 0);
    expect(splitter.pushRead(staging, 8).kind).toBe('error');
    expect(splitter.readTarget(staging)).toBe(staging);
    expect(splitter.pushRead(staging, 8).kind).toBe('error');
  });
});
