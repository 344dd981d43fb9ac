import net from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { limits, Prng } from '@basalt/stdx';
import { ByteQueue, Cmd, Errno, encodeRequest } from '../protocol/index.js';
import type { Extent, TransmissionContext } from '../protocol/index.js';
import type { BlockDevice } from '../block-device.js';
import { AgentMetrics } from './metrics.js';
import { Transmission } from './transmission.js';
import { TransmissionReads } from './transmission-reads.js';

const SEED = Number(process.env.SEED ?? 1717);
const MiB = 1024 * 1024;
const sizeBytes = 8 * MiB;

const done = (): Promise<void> => Promise.resolve();

/** A device that records writes and hands out payload buffers it can recognise. */
class RecordingDevice implements BlockDevice {
  readonly sizeBytes = sizeBytes;
  /** Every buffer writeBuffer() returned. */
  readonly handedOut = new Set<Buffer>();
  readonly writes: { offset: number; data: Buffer }[] = [];
  readonly flush = done;
  readonly trim = done;
  readonly writeZeroes = done;
  readonly close = done;

  writeBuffer(length: number): Buffer {
    const b = Buffer.alloc(length);
    this.handedOut.add(b);
    return b;
  }

  write(offset: number, data: Buffer): Promise<void> {
    this.writes.push({ offset, data });
    return Promise.resolve();
  }

  read(_offset: number, length: number): Promise<Buffer> {
    return Promise.resolve(Buffer.alloc(length));
  }

  allocation(_offset: number, length: number): Promise<Extent[]> {
    return Promise.resolve([{ lengthBytes: length, hole: false }]);
  }
}

const ctx: TransmissionContext = { volume: 'v', sizeBytes, readOnly: false, transmissionFlags: 0, structuredReplies: false, allocationContextId: undefined };

/** A transmission phase fed by TransmissionReads, as a plain connection's is once its socket reads in place. */
function harness(stagingBytes = limits.connectionReadStagingBytes) {
  const device = new RecordingDevice();
  const queue = new ByteQueue();
  const replies: { handle: string; errno: number }[] = [];
  const closed: string[] = [];
  let released = 0;
  const pump = (): void => {
    while (transmission.step(queue)) {
      // one request per step
    }
  };
  const transmission: Transmission = new Transmission(ctx, device, {
    id: '1',
    metrics: new AgentMetrics({ defaultMetrics: false }),
    send: (buffers) => replies.push({ errno: buffers[0]!.readUInt32BE(4), handle: buffers[0]!.subarray(8, 16).toString('hex') }),
    pause: () => undefined,
    resume: pump,
    end: () => undefined,
    close: (reason) => closed.push(reason),
    release: () => {
      released++;
      return Promise.resolve();
    },
    log: () => undefined,
  });
  const staging = Buffer.alloc(stagingBytes);
  const reads = new TransmissionReads(queue, transmission, staging, pump);
  transmission.readPayloadsInPlace();
  /** Bytes that were read into a buffer the device handed out (in place), by that buffer's memory. */
  const inPlace = new Map<ArrayBufferLike, number>();
  /** Plays the socket: each read goes where reads.target() says, at most `cut()` bytes. */
  const feed = (stream: Buffer, cut: () => number): void => {
    for (let pos = 0; pos < stream.length;) {
      const target = reads.target();
      const n = Math.min(cut(), target.length, stream.length - pos);
      stream.copy(target, 0, pos, pos + n);
      if (target !== staging) inPlace.set(target.buffer, (inPlace.get(target.buffer) ?? 0) + n);
      if (!reads.received(n, target)) throw new Error('a read asked the socket to stop');
      pos += n;
    }
  };
  return { device, queue, replies, closed, released: () => released, staging, reads, transmission, pump, feed, inPlace };
}

function handle(i: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(i, 4);
  return h;
}

function write(i: number, offset: number, payload: Buffer): Buffer {
  return Buffer.concat([encodeRequest({ flags: 0, type: Cmd.Write, handle: handle(i), offset: BigInt(offset), length: payload.length }), payload]);
}

function flush(i: number): Buffer {
  return encodeRequest({ flags: 0, type: Cmd.Flush, handle: handle(i), offset: 0n, length: 0 });
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('transmission reads in place', () => {
  const prng = new Prng(SEED);
  const payloads = [100, MiB, 5000, 0, 100, 10].map((n) => Buffer.from(Array.from({ length: n }, () => prng.int(0, 255))));
  // A small write, a large one, FLUSH, a write cut by everything, an empty one, one beyond the end (refused), one after it.
  const stream = Buffer.concat([
    write(1, 0, payloads[0]!), write(2, 4096, payloads[1]!), flush(3), write(4, 2 * MiB + 1, payloads[2]!),
    write(5, 0, payloads[3]!), write(6, sizeBytes - 10, payloads[4]!), write(7, 3 * MiB, payloads[5]!),
  ]);
  const cuts: [string, () => () => number][] = [
    ['1-byte reads', () => () => 1],
    ['28+1-byte reads', () => () => 29],
    ['reads of a header and a MiB (so headers span reads)', () => () => MiB + 28],
    ['reads of the staging size', () => () => limits.connectionReadStagingBytes],
    ['reads of random sizes', () => { const p = new Prng(SEED + 1); return () => p.int(1, 200_000); }],
  ];

  for (const [name, cutOf] of cuts) {
    it(`decodes the same requests, payloads and refusals with ${name}`, async () => {
      const h = harness();
      h.feed(stream, cutOf());
      await settle();
      expect(h.closed).toEqual([]);
      expect(h.device.writes.map((w) => w.offset)).toEqual([0, 4096, 2 * MiB + 1, 3 * MiB]);
      [0, 1, 2, 5].forEach((p, i) => expect(h.device.writes[i]!.data.equals(payloads[p]!)).toBe(true));
      expect(h.replies.map((r) => [Number.parseInt(r.handle, 16), r.errno]).sort((a, b) => a[0]! - b[0]!)).toEqual([
        [1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [6, Errno.ENOSPC], [7, 0],
      ]);
      expect(h.queue.length).toBe(0);
    });
  }

  it('reads a large WRITE payload into the buffer the device handed out, and hands that buffer to write()', async () => {
    const h = harness();
    const payload = payloads[1]!;
    const stagingBytes = limits.connectionReadStagingBytes;
    h.feed(write(9, 0, payload), () => stagingBytes);
    await settle();
    expect(h.device.handedOut.size).toBe(1);
    const [buffer] = [...h.device.handedOut];
    expect(h.device.writes).toHaveLength(1);
    expect(h.device.writes[0]!.data).toBe(buffer);
    expect(buffer!.equals(payload)).toBe(true);
    // All but what came with the header in the first read (into staging) was read in place.
    expect(h.inPlace.get(buffer!.buffer)).toBe(payload.length - (stagingBytes - 28));
  });

  it('refuses an oversized WRITE and bad magic as before: the connection closes, no payload buffer is taken', () => {
    const h = harness();
    h.feed(encodeRequest({ flags: 0, type: Cmd.Write, handle: handle(1), offset: 0n, length: limits.nbdRequestBytesMax + 1 }), () => 28);
    expect(h.closed).toEqual([`WRITE of ${limits.nbdRequestBytesMax + 1} bytes (max ${limits.nbdRequestBytesMax})`]);
    expect(h.device.handedOut.size).toBe(0);
    expect(h.reads.target()).toBe(h.staging);
    const bad = harness();
    const header = flush(1);
    header.writeUInt32BE(0x12345678, 0);
    bad.feed(header, () => 1);
    expect(bad.closed).toEqual(['bad request magic']);
  });

  it('a client gone mid-payload: nothing is written or answered, the device is released, reads go back to staging', async () => {
    const h = harness();
    const whole = write(1, 0, payloads[1]!);
    h.feed(whole.subarray(0, 28 + MiB / 2), () => 4096);
    expect(h.reads.target().length).toBe(MiB / 2);
    await h.transmission.shutdown();
    expect(h.device.writes).toEqual([]);
    expect(h.replies).toEqual([]);
    expect(h.released()).toBe(1);
    expect(h.reads.target()).toBe(h.staging);
  });

  it('a read into staging while a payload is read in place goes to the payload first, the rest after it', async () => {
    const h = harness();
    // The payload begins while the next read was already given the staging buffer (a resume's pump).
    h.queue.push(write(1, 0, Buffer.alloc(10_000, 7)).subarray(0, 28 + 100));
    h.pump();
    const rest = Buffer.concat([Buffer.alloc(9_900, 7), write(2, 8192, Buffer.alloc(50, 9))]);
    rest.copy(h.staging);
    h.reads.received(rest.length, h.staging);
    await settle();
    expect(h.device.writes.map((w) => [w.offset, w.data.length])).toEqual([[0, 10_000], [8192, 50]]);
    expect(h.device.writes[0]!.data.equals(Buffer.alloc(10_000, 7))).toBe(true);
    expect(h.device.writes[1]!.data.equals(Buffer.alloc(50, 9))).toBe(true);
  });

  it('adopt(): bytes queued during negotiation, then those the socket held, then reads in place, in order; no data events', async () => {
    const prng2 = new Prng(SEED + 2);
    const first = Buffer.from(Array.from({ length: 200 * 1024 }, () => prng2.int(0, 255)));
    const second = Buffer.from(Array.from({ length: 10 }, () => prng2.int(0, 255)));
    const whole = Buffer.concat([write(1, 0, first), write(2, MiB, second)]);
    const h = harness();
    const payloadRead = vi.spyOn(h.transmission, 'payloadRead');
    let dataAfterAdopt = 0;
    let adopted = false;
    let heldAtAdopt = 0;
    const done = new Promise<void>((resolve, reject) => {
      const server = net.createServer((socket) => {
        // Negotiation's reader: the first 1000 bytes go to the queue, then the socket is paused and more waits in it.
        const onData = (chunk: Buffer): void => {
          h.queue.push(chunk);
          if (h.queue.length >= 1000) socket.pause();
        };
        socket.on('data', onData);
        const adoptOnceHeld = (): void => {
          if (h.queue.length < 1000 || socket.readableLength === 0) return void setImmediate(adoptOnceHeld);
          heldAtAdopt = socket.readableLength;
          adopted = new TransmissionReads(h.queue, h.transmission, h.staging, h.pump).adopt(socket, onData);
          socket.on('data', () => dataAfterAdopt++);
          h.pump();
        };
        adoptOnceHeld();
        socket.on('error', reject);
        socket.on('end', () => {
          socket.destroy();
          server.close(() => resolve());
        });
      });
      server.listen(0, '127.0.0.1', () => {
        const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => {
          client.write(whole.subarray(0, 1000));
          setTimeout(() => client.write(whole.subarray(1000, 5000)), 20);
          setTimeout(() => client.end(whole.subarray(5000)), 60);
        });
        client.on('error', () => undefined);
      });
    });
    await done;
    await settle();
    expect(adopted).toBe(true);
    expect(heldAtAdopt).toBeGreaterThan(0);
    expect(dataAfterAdopt).toBe(0);
    expect(payloadRead).toHaveBeenCalled();
    expect(h.device.writes.map((w) => w.offset)).toEqual([0, MiB]);
    expect(h.device.writes[0]!.data.equals(first)).toBe(true);
    expect(h.device.writes[1]!.data.equals(second)).toBe(true);
    expect(h.device.handedOut.has(h.device.writes[0]!.data)).toBe(true);
  });
});
