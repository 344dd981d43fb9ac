import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { KiB, MiB, limits } from '@basalt/stdx';
import { SocketBatch } from './socket-batch.js';

/** A connected pair on loopback; the receiving side collects everything it gets. */
interface Pair {
  readonly sender: net.Socket;
  readonly received: Buffer[];
  /** Resolves once the receiver has `bytes` bytes in total. */
  readonly receivedBytes: (bytes: number) => Promise<Buffer>;
  /** Parts handed to the kernel, one entry per _write or _writev call. */
  readonly sends: { kind: 'write' | 'writev'; parts: number; bytes: number }[];
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Collects what a server socket receives; `receivedBytes` waits for a total. */
function collector(): { received: Buffer[]; take: (s: net.Socket) => void; receivedBytes: (bytes: number) => Promise<Buffer> } {
  const received: Buffer[] = [];
  let waiter: { bytes: number; resolve: (all: Buffer) => void } | undefined;
  let length = 0;
  const check = (): void => {
    if (waiter !== undefined && length >= waiter.bytes) waiter.resolve(Buffer.concat(received));
  };
  const take = (s: net.Socket): void => {
    s.on('data', (chunk: Buffer) => {
      received.push(chunk);
      length += chunk.length;
      check();
    });
    cleanups.push(() => s.destroy());
  };
  const receivedBytes = (bytes: number): Promise<Buffer> =>
    new Promise((resolve) => {
      waiter = { bytes, resolve };
      check();
    });
  return { received, take, receivedBytes };
}

/** A TLS pair on loopback with a pre-shared key (TLS 1.2: no certificates needed). */
async function tlsPair(): Promise<Pair & { readonly sender: tls.TLSSocket }> {
  const psk = Buffer.alloc(32, 7);
  const ciphers = 'PSK-AES128-GCM-SHA256';
  const c = collector();
  const server = tls.createServer({ ciphers, maxVersion: 'TLSv1.2', pskCallback: () => psk }, c.take);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const sender = tls.connect({ host: '127.0.0.1', port, ciphers, maxVersion: 'TLSv1.2', pskCallback: () => ({ psk, identity: 'test' }), checkServerIdentity: () => undefined });
  await new Promise<void>((resolve) => sender.once('secureConnect', resolve));
  cleanups.push(() => {
    sender.destroy();
    server.close();
  });
  return { sender, received: c.received, receivedBytes: c.receivedBytes, sends: countSends(sender) };
}

/** Frames as the data plane sends them: a small header, then (every third) a large payload. */
function mixedFrames(count: number, payloadBytes: number): Buffer[][] {
  return Array.from({ length: count }, (_, i) => [Buffer.alloc(40 + i, i), Buffer.alloc(i % 3 === 0 ? payloadBytes : 100, 128 + i)]);
}

async function pair(): Promise<Pair> {
  const received: Buffer[] = [];
  let waiter: { bytes: number; resolve: (all: Buffer) => void } | undefined;
  let receivedLength = 0;
  const check = (): void => {
    if (waiter !== undefined && receivedLength >= waiter.bytes) waiter.resolve(Buffer.concat(received));
  };
  const server = net.createServer((s) => {
    s.on('data', (chunk: Buffer) => {
      received.push(chunk);
      receivedLength += chunk.length;
      check();
    });
    cleanups.push(() => s.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const sender = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => sender.once('connect', resolve));
  sender.setNoDelay(true);
  cleanups.push(() => {
    sender.destroy();
    server.close();
  });
  const sends = countSends(sender);
  const receivedBytes = (bytes: number): Promise<Buffer> =>
    new Promise((resolve) => {
      waiter = { bytes, resolve };
      check();
    });
  return { sender, received, receivedBytes, sends };
}

/** Wraps the socket's _write and _writev (what Node calls to hand bytes to the kernel). */
function countSends(socket: net.Socket): Pair['sends'] {
  const sends: Pair['sends'] = [];
  type Internals = {
    _write: (chunk: Buffer, encoding: string, cb: (err?: Error) => void) => void;
    _writev: (chunks: { chunk: Buffer }[], cb: (err?: Error) => void) => void;
  };
  const s = socket as unknown as Internals;
  const write = s._write.bind(socket);
  const writev = s._writev.bind(socket);
  s._write = (chunk, encoding, cb) => {
    sends.push({ kind: 'write', parts: 1, bytes: chunk.length });
    write(chunk, encoding, cb);
  };
  s._writev = (chunks, cb) => {
    sends.push({ kind: 'writev', parts: chunks.length, bytes: chunks.reduce((n, c) => n + c.chunk.length, 0) });
    writev(chunks, cb);
  };
  return sends;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Writes the frames through the batch and expects every byte to arrive in order and every `sent` callback to run in order. */
async function expectDeliveredInOrder(p: Pair, batch: SocketBatch, frames: readonly Buffer[][]): Promise<void> {
  const sent: number[] = [];
  frames.forEach((f, i) => batch.write(f, () => sent.push(i)));
  const want = Buffer.concat(frames.flat());
  expect((await p.receivedBytes(want.length)).equals(want)).toBe(true);
  await nextTurn();
  expect(sent).toEqual(frames.map((_, i) => i));
}

/** A message of `parts` buffers, each filled with its own byte so order is visible. */
function message(first: number, parts: number): Buffer[] {
  return Array.from({ length: parts }, (_, i) => Buffer.alloc(8, first + i));
}

/** Resolves after the current callback's flush (SocketBatch's process.nextTick) has run. */
function afterFlush(): Promise<void> {
  return new Promise((resolve) => process.nextTick(resolve));
}

describe('socket batch', () => {
  it('sends every message of one callback, promise jobs included, in one writev right after it', async () => {
    const p = await pair();
    const batch = new SocketBatch(p.sender);
    const messages = [message(1, 2), message(3, 1), message(4, 2), message(6, 1)];
    batch.write(messages[0]!);
    batch.write(messages[1]!);
    const jobs = Promise.resolve().then(() => {
      batch.write(messages[2]!);
      return Promise.resolve().then(() => batch.write(messages[3]!));
    });
    expect(p.sends).toEqual([]); // nothing before the callback ends
    await jobs;
    await afterFlush();
    expect(p.sends).toEqual([{ kind: 'writev', parts: 6, bytes: 48 }]);
    const all = await p.receivedBytes(48);
    expect(all).toEqual(Buffer.concat(messages.flat()));
  });

  it('sends a lone message as one write', async () => {
    const p = await pair();
    const batch = new SocketBatch(p.sender);
    batch.write([Buffer.from('hello')]);
    await afterFlush();
    expect(p.sends).toEqual([{ kind: 'write', parts: 1, bytes: 5 }]);
    expect((await p.receivedBytes(5)).toString()).toBe('hello');
  });

  it('sends the messages of separate callbacks of one turn separately, in order', async () => {
    const p = await pair();
    const batch = new SocketBatch(p.sender);
    const messages = [message(1, 1), message(2, 2), message(4, 1)];
    await new Promise<void>((resolve) => {
      // Three immediates run in one check phase, each its own callback.
      setImmediate(() => batch.write(messages[0]!));
      setImmediate(() => batch.write(messages[1]!));
      setImmediate(() => {
        batch.write(messages[2]!);
        resolve();
      });
    });
    await afterFlush();
    expect(p.sends).toEqual([{ kind: 'write', parts: 1, bytes: 8 }, { kind: 'writev', parts: 2, bytes: 16 }, { kind: 'write', parts: 1, bytes: 8 }]);
    expect(await p.receivedBytes(32)).toEqual(Buffer.concat(messages.flat()));
  });

  it('keeps order across callbacks and with writes made directly on the socket', async () => {
    const p = await pair();
    const batch = new SocketBatch(p.sender);
    const expected: Buffer[] = [];
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < round % 4; i++) {
        const m = message(round * 8 + i * 2, 2);
        batch.write(m);
        expected.push(...m);
      }
      const direct = Buffer.alloc(3, 200 + round);
      p.sender.write(direct); // joins the same queue, behind this callback's batched messages
      expected.push(direct);
      await nextTurn();
    }
    const want = Buffer.concat(expected);
    expect(await p.receivedBytes(want.length)).toEqual(want);
    expect(p.sends.length).toBeLessThanOrEqual(20); // one writev per round: the batch and the direct write
  });

  it('reports back-pressure from the socket and drains after the flush', async () => {
    const p = await pair();
    const batch = new SocketBatch(p.sender);
    expect(batch.write([Buffer.alloc(KiB)])).toBe(true);
    expect(batch.write([Buffer.alloc(p.sender.writableHighWaterMark)])).toBe(false);
    await new Promise<void>((resolve) => p.sender.once('drain', resolve));
    await p.receivedBytes(KiB + p.sender.writableHighWaterMark);
  });

  it('says when a message has been written, and never for one a destroyed socket dropped', async () => {
    const p = await pair();
    const events: string[] = [];
    const batch = new SocketBatch(p.sender);
    batch.write([Buffer.from('ab'), Buffer.from('cd')], () => events.push('first'));
    batch.write([Buffer.from('ef')], () => events.push('second'));
    expect(events).toEqual([]); // not before the flush has written them
    await p.receivedBytes(6);
    await nextTurn();
    expect(events).toEqual(['first', 'second']);
    batch.write([Buffer.from('queued')], () => events.push('dropped'));
    p.sender.on('error', () => undefined);
    p.sender.destroy(); // before the flush
    await nextTurn();
    await nextTurn();
    expect(events).toEqual(['first', 'second']);
  });

  it('drops messages for a destroyed socket without errors', async () => {
    const p = await pair();
    const errors: Error[] = [];
    p.sender.on('error', (err) => errors.push(err));
    const batch = new SocketBatch(p.sender);
    batch.write([Buffer.from('queued')]);
    p.sender.destroy(); // before the flush
    await nextTurn();
    expect(batch.write([Buffer.from('late')])).toBe(false);
    await nextTurn();
    expect(errors).toEqual([]);
    expect(p.sends).toEqual([]);
  });

  it('lets end() flush what the callback queued', async () => {
    const p = await pair();
    const errors: Error[] = [];
    p.sender.on('error', (err) => errors.push(err));
    const batch = new SocketBatch(p.sender);
    batch.write([Buffer.from('last '), Buffer.from('words')]);
    p.sender.end();
    expect(batch.write([Buffer.from('too late')])).toBe(false);
    expect((await p.receivedBytes(10)).toString()).toBe('last words');
    await nextTurn();
    expect(errors).toEqual([]);
  });

  it('with a bound, hands the socket at most that many unsent bytes (or one larger message) and the rest in order as writes complete', async () => {
    const p = await pair();
    const aheadBytesMax = 64 * KiB;
    const batch = new SocketBatch(p.sender, aheadBytesMax);
    const messages = Array.from({ length: 48 }, (_, i) => [Buffer.alloc(16, i), Buffer.alloc(i % 7 === 0 ? 96 * KiB : 24 * KiB, i)]);
    const sent: number[] = [];
    let heldMax = 0;
    const watch = setInterval(() => (heldMax = Math.max(heldMax, p.sender.writableLength)), 0);
    messages.forEach((m, i) => {
      batch.write(m, () => sent.push(i));
      heldMax = Math.max(heldMax, p.sender.writableLength);
    });
    const want = Buffer.concat(messages.flat());
    expect((await p.receivedBytes(want.length)).equals(want)).toBe(true);
    await nextTurn();
    clearInterval(watch);
    expect(sent).toEqual(messages.map((_, i) => i));
    const largest = 16 + 96 * KiB;
    expect(heldMax).toBeLessThanOrEqual(largest);
    expect(p.sends.length).toBeGreaterThan(1);
    for (const send of p.sends) expect(send.bytes).toBeLessThanOrEqual(Math.max(aheadBytesMax, largest));
    expect(Math.max(...p.sends.map((s) => s.bytes))).toBeGreaterThan(aheadBytesMax / 2); // small messages still share a writev
  });

  it('ends the socket only after the messages waiting beyond the bound have gone out', async () => {
    const p = await pair();
    const batch = new SocketBatch(p.sender, 16 * KiB);
    const messages = Array.from({ length: 16 }, (_, i) => [Buffer.alloc(16, i), Buffer.alloc(12 * KiB, i)]);
    for (const m of messages) batch.write(m);
    batch.end();
    expect(batch.write([Buffer.from('too late')])).toBe(false);
    const finished = new Promise<void>((resolve) => p.sender.once('finish', resolve));
    const want = Buffer.concat(messages.flat());
    expect((await p.receivedBytes(want.length)).equals(want)).toBe(true);
    await finished;
    expect(p.sender.writableEnded).toBe(true);
  });

  it('bounds a TLS socket by limits.tlsWriteAheadBytesMax, not a plain one', async () => {
    // A server that never answers the handshake: the TLS socket holds every write it is handed.
    const silent = net.createServer((s) => cleanups.push(() => s.destroy()));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    client.on('error', () => undefined);
    cleanups.push(() => {
      client.destroy();
      silent.close();
    });
    await new Promise<void>((resolve) => client.once('connect', resolve));
    const batch = SocketBatch.bounded(client);
    for (let i = 0; i < 4; i++) batch.write([Buffer.alloc(16), Buffer.alloc(MiB)]);
    await afterFlush();
    expect(client.writableLength).toBe(16 + MiB); // one message: each alone exceeds the bound
    expect(limits.tlsWriteAheadBytesMax).toBeLessThan(2 * (16 + MiB));

    const p = await pair();
    const plain = SocketBatch.bounded(p.sender);
    const messages = Array.from({ length: 4 }, (_, i) => [Buffer.alloc(16, i), Buffer.alloc(MiB / 2, i)]);
    for (const m of messages) plain.write(m);
    await afterFlush();
    expect(p.sends[0]).toEqual({ kind: 'writev', parts: 8, bytes: 4 * (16 + MiB / 2) });
    expect(p.sends[0]!.bytes).toBeGreaterThan(limits.tlsWriteAheadBytesMax);
    const want = Buffer.concat(messages.flat());
    expect((await p.receivedBytes(want.length)).equals(want)).toBe(true);
  });

  it('on a TLS socket, hands each large last part to the socket alone and keeps every byte in order', async () => {
    const p = await tlsPair();
    const batch = SocketBatch.bounded(p.sender);
    await expectDeliveredInOrder(p, batch, mixedFrames(12, MiB));
    const large = p.sends.filter((s) => s.bytes >= limits.tlsSoloWriteBytesMin);
    expect(large).toEqual(Array.from({ length: 4 }, () => ({ kind: 'write', parts: 1, bytes: MiB })));
    expect(p.sends.some((s) => s.kind === 'writev')).toBe(true); // the small frames still share writevs
  });

  it('with a minimum for lone parts, hands each large last part to _write alone and keeps the order of mixed frames', async () => {
    const p = await pair();
    const soloBytesMin = 256 * KiB;
    const batch = new SocketBatch(p.sender, MiB, soloBytesMin);
    await expectDeliveredInOrder(p, batch, mixedFrames(30, soloBytesMin));
    const alone = p.sends.filter((s) => s.bytes >= soloBytesMin);
    expect(alone).toEqual(Array.from({ length: 10 }, () => ({ kind: 'write', parts: 1, bytes: soloBytesMin })));
  });

  it('keeps a large part that is not last, or below the minimum, in the writev', async () => {
    const p = await pair();
    const batch = new SocketBatch(p.sender, 4 * MiB, 256 * KiB);
    const middle = [Buffer.alloc(16, 1), Buffer.alloc(256 * KiB, 2), Buffer.alloc(16, 3)];
    const below = [Buffer.alloc(16, 4), Buffer.alloc(256 * KiB - 1, 5)];
    batch.write(middle);
    batch.write(below);
    await afterFlush();
    expect(p.sends).toEqual([{ kind: 'writev', parts: 5, bytes: 32 + 256 * KiB + 16 + 256 * KiB - 1 }]);
    const want = Buffer.concat([...middle, ...below]);
    expect((await p.receivedBytes(want.length)).equals(want)).toBe(true);
  });
});
