import net from 'node:net';
import { Server } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, type Identity } from '@basalt/stdx';
import { decodeMetaResult, encodeMetaCall, metaCallMagic, MetaClient, metaResultSplitter, metaService, TransportSecurity, type pb } from '@basalt/wire';
import type { CallerHandlers } from './meta-api.js';
import { MetaListener } from './meta-listener.js';
import { serveMetaConnection } from './meta-call-receiver.js';
import type { MetaMetrics } from './metrics.js';

/**
 * The framed Meta API as metad serves it (MetaListener hands a connection that starts with the
 * call magic to serveMetaConnection), on loopback in the clear, called by MetaClient and by raw
 * frames: replies in any order, errors carried with their code and details, and the typed
 * refusals of calls and frames that must reach no handler.
 */
interface Served {
  port: number;
  /** Handler calls, as "method:caller". */
  calls: string[];
  /** metrics.countRpc calls, as "method:code". */
  counted: string[];
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Replies of getVolume wait until `release` is called for their name; status answers at once. */
const held = new Map<string, () => void>();

async function serve(refused?: BasaltError): Promise<Served> {
  const security = TransportSecurity.insecure();
  const s: Served = { port: 0, calls: [], counted: [] };
  const handlers = {
    status: (_req: unknown, caller: Identity) => {
      s.calls.push(`status:${caller.name}`);
      return Promise.resolve({ id: caller.name });
    },
    getVolume: async (req: { name: string }, caller: Identity) => {
      s.calls.push(`getVolume:${caller.name}`);
      await new Promise<void>((resolve) => held.set(req.name, resolve));
      return { volume: { name: req.name } };
    },
    deleteVolume: (req: { name: string }) => {
      s.calls.push('deleteVolume');
      if (req.name === 'bug') throw new TypeError('a bug');
      return Promise.reject(new BasaltError(ErrorCode.NotLeader, 'not the leader', { leaderId: 'm2', leaderAddress: '127.0.0.1:7002', term: 4, name: req.name }));
    },
  } as unknown as CallerHandlers;
  const metrics = { countRpc: (method: string, code: string) => s.counted.push(`${method}:${code}`) } as unknown as MetaMetrics;
  const grpc = new Server();
  const listener = await MetaListener.listen('127.0.0.1', 0, security, grpc, {
    raft: (socket) => socket.destroy(),
    meta: (socket, first) => serveMetaConnection(socket, first, refused, { security, handlers, metrics, log: () => undefined }),
  });
  s.port = listener.port;
  cleanups.push(() => listener.close(), () => grpc.forceShutdown());
  return s;
}

function client(s: Served): MetaClient {
  const c = new MetaClient({ endpoints: [`127.0.0.1:${s.port}`], callTimeoutMs: 5_000 });
  cleanups.push(() => c.close());
  return c;
}

function call(id: number, method: string, request: Uint8Array): Buffer {
  return Buffer.concat(encodeMetaCall({ id, method, request, timeoutMs: 5_000 }));
}

function prefix(magic: number, bodyBytes: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(magic, 0);
  b.writeUInt32BE(bodyBytes, 4);
  return b;
}

/** Writes `bytes` and returns the results read until the member closed the connection, or until `count` arrived. */
async function exchange(port: number, bytes: Buffer, count = Infinity): Promise<{ results: pb.MetaResult[]; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(bytes));
    const split = metaResultSplitter();
    const results: pb.MetaResult[] = [];
    socket.on('data', (chunk: Buffer) => {
      for (const f of split.push(chunk).frames) results.push(decodeMetaResult(f));
      if (results.length >= count) {
        socket.destroy();
        resolve({ results, closed: false });
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ results, closed: true }));
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const statusRequest = metaService.status.requestSerialize({});

describe('a framed Meta connection on metad\'s port', () => {
  it('answers many calls in flight on one connection in the order their handlers finish', async () => {
    const s = await serve();
    const c = client(s);
    const a = c.call('getVolume', { name: 'a' });
    const b = c.call('getVolume', { name: 'b' });
    await until(() => held.has('a') && held.has('b'), 'both calls at their handlers');
    held.get('b')!();
    expect((await b).volume?.name).toBe('b');
    held.get('a')!();
    expect((await a).volume?.name).toBe('a');
    expect((await c.call('status', {})).id).toBe('insecure');
    expect(s.calls).toEqual(['getVolume:insecure', 'getVolume:insecure', 'status:insecure']);
    expect(s.counted).toEqual(['getVolume:OK', 'getVolume:OK', 'status:OK']);
  });

  it('carries a handler\'s BasaltError with its code, message and details, and a bug as BASALT_IO', async () => {
    const s = await serve();
    const c = client(s);
    const err = (await c.call('deleteVolume', { name: 'vé' }, { address: `127.0.0.1:${s.port}` }).catch((e: unknown) => e)) as BasaltError;
    expect(err.code).toBe(ErrorCode.NotLeader);
    expect(err.message).toBe('not the leader');
    expect(err.details).toMatchObject({ leaderId: 'm2', leaderAddress: '127.0.0.1:7002', term: 4, name: 'vé', address: `127.0.0.1:${s.port}` });
    const bug = (await c.call('deleteVolume', { name: 'bug' }).catch((e: unknown) => e)) as BasaltError;
    expect(bug.code).toBe(ErrorCode.Io);
    expect(bug.message).toMatch(/internal error: a bug/);
    expect(s.counted).toEqual([`deleteVolume:${ErrorCode.NotLeader}`, `deleteVolume:${ErrorCode.Io}`]);
  });

  it('answers an unknown method and a request that does not decode with BASALT_PROTOCOL, reaching no handler, and keeps the connection', async () => {
    const s = await serve();
    const bytes = Buffer.concat([call(1, 'NoSuchMethod', statusRequest), call(2, 'Status', Buffer.from([0xff, 0xff])), call(3, 'Status', statusRequest)]);
    const { results } = await exchange(s.port, bytes, 3);
    const byId = new Map(results.map((r) => [r.id, r]));
    expect(byId.get(1)?.error?.code).toBe(ErrorCode.Protocol);
    expect(byId.get(1)?.error?.message).toMatch(/unknown Meta method "NoSuchMethod"/);
    expect(byId.get(2)?.error?.code).toBe(ErrorCode.Protocol);
    expect(byId.get(2)?.error?.message).toMatch(/does not decode/);
    expect(byId.get(3)?.error).toBeNull();
    expect(metaService.status.responseDeserialize(byId.get(3)!.reply as Buffer).id).toBe('insecure');
    expect(s.calls).toEqual(['status:insecure']);
  });

  it('closes the connection on a bad magic, a frame above the size limit, or a frame that does not decode, running nothing after it', async () => {
    const s = await serve();
    const badMagic = await exchange(s.port, Buffer.concat([call(1, 'Status', statusRequest), prefix(0xdeadbeef, 0), call(2, 'Status', statusRequest)]));
    expect(badMagic.closed).toBe(true);
    expect(badMagic.results.map((r) => r.id)).toEqual([]);
    await until(() => s.calls.length === 1, 'the call before the bad frame');
    const oversized = await exchange(s.port, Buffer.concat([prefix(metaCallMagic, 0xffffffff), call(3, 'Status', statusRequest)]));
    const undecodable = await exchange(s.port, Buffer.concat([prefix(metaCallMagic, 3), Buffer.from([0xff, 0xff, 0xff]), call(4, 'Status', statusRequest)]));
    expect([oversized.closed, undecodable.closed]).toEqual([true, true]);
    expect([...oversized.results, ...undecodable.results]).toEqual([]);
    expect(s.calls).toEqual(['status:insecure']);
  });

  it('answers every call of a peer the listener refused with that refusal, reaching no handler', async () => {
    const s = await serve(new BasaltError(ErrorCode.Unauthenticated, 'the peer\'s certificate (serial 0A) is revoked', { serial: '0A', reason: 'revoked' }));
    const c = client(s);
    const err = (await c.call('status', {}, { address: `127.0.0.1:${s.port}` }).catch((e: unknown) => e)) as BasaltError;
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.details).toMatchObject({ serial: '0A', reason: 'revoked' });
    expect(s.calls).toEqual([]);
    expect(s.counted).toEqual([`status:${ErrorCode.Unauthenticated}`]);
  });
});
