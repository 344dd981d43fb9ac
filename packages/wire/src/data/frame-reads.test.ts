import net from 'node:net';
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

  it('adopt(): an accepted socket reads in place, what it received before first, and emits no data', async () => {
    const prng = new Prng(SEED + 1);
    // A small frame, then one that spans many reads (read in place), then one cut by the stream.
    const sent = [frameOf(100, prng.int(0, 255)), frameOf(3 * limits.connectionReadStagingBytes + 5, prng.int(0, 255)), frameOf(7, prng.int(0, 255))];
    const got: Buffer[] = [];
    let dataEvents = 0;
    let adopted = false;
    let waitingAtAdopt = 0;
    const whole = Buffer.concat(sent);
    const done = new Promise<void>((resolve, reject) => {
      const server = net.createServer((socket) => {
        // The first bytes wait in the socket (read, not yet emitted) when it is adopted.
        const adoptOnceReceived = (): void => {
          if (socket.readableLength === 0) return void setImmediate(adoptOnceReceived);
          waitingAtAdopt = socket.readableLength;
          const reads = new FrameReads(new FrameSplitter(responseMagic, limits.dataFrameBytesMax));
          reads.attach((split) => {
            if (split.kind === 'error') reject(new Error(split.message));
            got.push(...split.frames);
            if (got.length === sent.length) {
              socket.destroy();
              server.close(() => resolve());
            }
          });
          adopted = reads.adopt(socket);
          socket.on('data', () => dataEvents++);
        };
        adoptOnceReceived();
      });
      server.listen(0, '127.0.0.1', () => {
        const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => {
          client.write(whole.subarray(0, 50));
          setTimeout(() => client.end(whole.subarray(50)), 20);
        });
        client.on('error', () => undefined);
      });
    });
    await done;
    expect(adopted).toBe(true);
    expect(waitingAtAdopt).toBe(50);
    expect(got.map((f) => f.length)).toEqual(sent.map((f) => f.length));
    got.forEach((f, i) => expect(Buffer.compare(f, sent[i]!)).toBe(0));
    expect(dataEvents).toBe(0);
  });
});
