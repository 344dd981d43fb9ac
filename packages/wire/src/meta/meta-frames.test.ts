import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { decodeMetaCall, decodeMetaResult, encodeMetaCall, encodeMetaResult, metaCallSplitter, metaResultMagic, metaResultSplitter } from './meta-frames.js';
import { errorFields } from './errors.js';
import { MetaConnection } from './meta-connection.js';
import { TransportSecurity } from '../security/transport-security.js';

/**
 * The framed Meta API's frames (encode, cut, decode) and MetaConnection's side of a connection
 * against a scripted member on loopback: results matched by id, and each way a call fails typed.
 */
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function prefix(magic: number, bodyBytes: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(magic, 0);
  b.writeUInt32BE(bodyBytes, 4);
  return b;
}

/** A member that hands every call it reads to `answer`, which writes what it likes. */
async function member(answer: (socket: net.Socket, call: ReturnType<typeof decodeMetaCall>) => void): Promise<string> {
  const server = net.createServer((socket) => {
    const split = metaCallSplitter();
    socket.on('data', (chunk: Buffer) => {
      for (const f of split.push(chunk).frames) answer(socket, decodeMetaCall(f));
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => server.close());
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

function connect(address: string): MetaConnection {
  const c = new MetaConnection(address, TransportSecurity.insecure());
  cleanups.push(() => c.close());
  return c;
}

describe('Meta frames', () => {
  it('round-trip a call and a result through the splitters, cut wherever the bytes fall', () => {
    const bytes = Buffer.concat([...encodeMetaCall({ id: 7, method: 'Status', request: Buffer.from([1, 2]), timeoutMs: 500 }), ...encodeMetaCall({ id: 8, method: 'GetVolume', request: Buffer.alloc(0), timeoutMs: 1 })]);
    const split = metaCallSplitter();
    const frames = [...split.push(bytes.subarray(0, 11)).frames, ...split.push(bytes.subarray(11)).frames];
    expect(frames.map((f) => decodeMetaCall(f)).map((c) => [c.id, c.method, [...c.request], c.timeoutMs])).toEqual([[7, 'Status', [1, 2], 500], [8, 'GetVolume', [], 1]]);
    const err = new BasaltError(ErrorCode.NotLeader, 'not the leader', { leaderAddress: '127.0.0.1:7002', term: 3 });
    const [result] = metaResultSplitter().push(Buffer.concat(encodeMetaResult({ id: 9, error: errorFields(err) }))).frames;
    expect(decodeMetaResult(result!).error).toMatchObject({ code: ErrorCode.NotLeader, message: 'not the leader', leaderAddress: '127.0.0.1:7002', details: '{"term":3}' });
  });

  it('refuse a body that does not decode with BASALT_PROTOCOL, and a splitter refuses a result above metaReplyBytesMax', () => {
    const bad = Buffer.concat([prefix(metaResultMagic, 3), Buffer.from([0xff, 0xff, 0xff])]);
    expect(() => decodeMetaResult(bad)).toThrow(expect.objectContaining({ code: ErrorCode.Protocol }) as Error);
    expect(metaResultSplitter().push(prefix(metaResultMagic, limits.metaReplyBytesMax + 1))).toMatchObject({ kind: 'error', message: expect.stringMatching(/above the limit/) as string });
  });
});

describe('MetaConnection', () => {
  it('matches results to calls by id, in any order, and carries an error\'s fields', async () => {
    const held: { socket: net.Socket; id: number }[] = [];
    const address = await member((socket, call) => {
      held.push({ socket, id: call.id });
      if (held.length < 3) return;
      const [a, b, c] = held;
      c!.socket.write(Buffer.concat(encodeMetaResult({ id: c!.id, error: errorFields(new BasaltError(ErrorCode.VolumeNotFound, 'no volume x', { name: 'x' })) })));
      b!.socket.write(Buffer.concat(encodeMetaResult({ id: b!.id, reply: Buffer.from('b') })));
      a!.socket.write(Buffer.concat(encodeMetaResult({ id: a!.id, reply: Buffer.from('a') })));
    });
    const conn = connect(address);
    const calls = [conn.call('GetVolume', Buffer.alloc(0), 5_000), conn.call('GetVolume', Buffer.alloc(0), 5_000), conn.call('GetVolume', Buffer.alloc(0), 5_000).catch((e: unknown) => e)];
    const [a, b, c] = await Promise.all(calls);
    expect([Buffer.from(a as Uint8Array).toString(), Buffer.from(b as Uint8Array).toString()]).toEqual(['a', 'b']);
    expect(c).toMatchObject({ code: ErrorCode.VolumeNotFound, message: 'no volume x', details: { name: 'x', address } });
  });

  it('fails a call without a result within its timeout with BASALT_TIMEOUT, and keeps the connection', async () => {
    const address = await member((socket, call) => {
      if (call.method === 'Status') socket.write(Buffer.concat(encodeMetaResult({ id: call.id, reply: Buffer.alloc(0) })));
    });
    const conn = connect(address);
    await expect(conn.call('GetVolume', Buffer.alloc(0), 50)).rejects.toMatchObject({ code: ErrorCode.Timeout });
    expect(conn.failed).toBe(false);
    await conn.call('Status', Buffer.alloc(0), 5_000);
  });

  it('fails its calls with BASALT_UNAVAILABLE when the member closes or cannot be reached, and BASALT_PROTOCOL on a result frame that does not parse', async () => {
    const closing = connect(await member((socket) => socket.destroy()));
    await expect(closing.call('Status', Buffer.alloc(0), 5_000)).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    expect(closing.failed).toBe(true);
    await expect(closing.call('Status', Buffer.alloc(0), 5_000)).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    const free = await member(() => undefined);
    for (const c of cleanups.splice(-1)) c();
    await expect(connect(free).call('Status', Buffer.alloc(0), 5_000)).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    const garbled = connect(await member((socket) => socket.write(prefix(0xdeadbeef, 0))));
    await expect(garbled.call('Status', Buffer.alloc(0), 5_000)).rejects.toMatchObject({ code: ErrorCode.Protocol });
  });

  it('fails its calls with BASALT_CLOSED when closed', async () => {
    const conn = connect(await member(() => undefined));
    const pending = conn.call('Status', Buffer.alloc(0), 5_000);
    conn.close();
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.Closed });
  });
});
