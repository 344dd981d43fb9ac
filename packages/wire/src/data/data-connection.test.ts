import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, limits, MiB } from '@basalt/stdx';
import { DataOp, ExtentState, requestMagic } from './constants.js';
import { decodeRequest, encodeResponse, type ExtentRef } from './codec.js';
import { DataConnection } from './data-connection.js';
import { FramePool } from './frame-pool.js';
import { FrameSplitter } from './frame-splitter.js';
import { pieceCrcs } from './pieces.js';

/**
 * A chunk-server stand-in on loopback that answers INFO and PING requests, except for extents in
 * `silent` (never answered), in `refused` (answered with BASALT_UNAVAILABLE) and from index 100
 * on (answered when release() is called). hangUp() closes its connections. A `deaf`
 * server answers nothing (a stopped process). `pings` counts the PINGs it received.
 */
interface Server {
  readonly address: string;
  readonly silent: Set<number>;
  readonly refused: Set<number>;
  release: () => void;
  hangUp: () => void;
  deaf: boolean;
  pings: number;
  /** Every frame received, in order: AUTH as `auth:<token>`, others as `<op>:<index>`. */
  frames: string[];
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function server(): Promise<Server> {
  const held: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const state: Server = {
    address: '', silent: new Set(), refused: new Set(), release: () => held.splice(0).forEach((answer) => answer()),
    hangUp: () => sockets.forEach((socket) => socket.destroy()), deaf: false, pings: 0, frames: [],
  };
  const srv = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    const splitter = new FrameSplitter(requestMagic, limits.dataFrameBytesMax);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of splitter.push(chunk).frames) {
        const decoded = decodeRequest(frame);
        if (decoded.kind !== 'ok') throw new Error(decoded.message);
        const req = decoded.value;
        if (req.op === DataOp.Ping) state.pings++;
        state.frames.push(req.op === DataOp.Auth ? `auth:${req.payload!.toString()}` : `${req.op}:${req.extent.index}`);
        if (state.deaf || state.silent.has(req.extent.index)) continue;
        const head = { requestId: req.requestId, epoch: req.extent.epoch, version: req.extent.index, state: ExtentState.Active };
        const answer = (): void => {
          const res = state.refused.has(req.extent.index)
            ? { ...head, ok: false as const, code: ErrorCode.Unavailable, message: 'a secondary failed and could not be dropped' }
            : req.op === DataOp.Read
              ? { ...head, ok: true as const, ...readReply(req.offset, req.length, req.extent.index) }
              : { ...head, ok: true as const, crcs: new Uint32Array(0), payload: Buffer.alloc(0) };
          for (const part of encodeResponse(res)) socket.write(part);
        };
        if (req.extent.index >= 100) held.push(answer);
        else answer();
      }
    });
    cleanups.push(() => socket.destroy());
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => srv.close());
  return Object.assign(state, { address: `127.0.0.1:${(srv.address() as net.AddressInfo).port}` });
}

/** A READ's reply from the stand-in: every byte is the extent's index. */
function readReply(offset: number, length: number, index: number): { crcs: Uint32Array; payload: Buffer } {
  const payload = Buffer.alloc(length, index);
  return { crcs: pieceCrcs(offset, payload), payload };
}

function extent(index: number): ExtentRef {
  return { volumeId: 1, index, extentSizeBytes: 64 * MiB, epoch: 3, generation: 0, replicas: [{ serverId: 'c1', address: '127.0.0.1:1' }] };
}

async function connect(address: string, requestTimeoutMs: number, probe: { probeAfterMs?: number; probeTimeoutMs?: number } = {}): Promise<DataConnection> {
  const conn = await DataConnection.connect(address, { requestTimeoutMs, ...probe });
  cleanups.push(() => conn.close());
  return conn;
}

describe('data connection timeouts', () => {
  it('fails an unanswered request with BASALT_TIMEOUT and keeps the connection usable', async () => {
    const s = await server();
    s.silent.add(7);
    const conn = await connect(s.address, 100);
    await expect(conn.info(extent(7))).rejects.toMatchObject({ code: ErrorCode.Timeout });
    expect(conn.closed).toBe(false);
    expect(conn.inflightByteCount).toBe(0);
    expect((await conn.info(extent(8))).version).toBe(8);
  });

  it('marks an error the server answered (details.answered), unlike its own timeouts and a lost connection', async () => {
    const s = await server();
    s.refused.add(5);
    s.silent.add(7);
    const conn = await connect(s.address, 100);
    const answered = await conn.info(extent(5)).catch((err: unknown) => err);
    expect(answered).toMatchObject({ code: ErrorCode.Unavailable, details: { answered: true, epoch: 3 } });
    const timedOut = await conn.info(extent(7)).catch((err: unknown) => err);
    expect(timedOut).toMatchObject({ code: ErrorCode.Timeout });
    expect((timedOut as { details: Record<string, unknown> }).details.answered).toBeUndefined();
    s.deaf = true;
    const pending = conn.info(extent(8)).catch((err: unknown) => err);
    s.hangUp();
    const lost = await pending;
    expect(lost).toMatchObject({ code: ErrorCode.Unavailable });
    expect((lost as { details: Record<string, unknown> }).details.answered).toBeUndefined();
  });

  it('times out a request sent after earlier ones were answered (the timer re-arms for it)', async () => {
    const s = await server();
    s.silent.add(9);
    const conn = await connect(s.address, 150);
    expect((await conn.info(extent(1))).version).toBe(1); // arms the timer, then leaves
    const late = conn.info(extent(9));
    expect((await conn.info(extent(2))).version).toBe(2);
    await expect(late).rejects.toMatchObject({ code: ErrorCode.Timeout });
    expect((await conn.info(extent(3))).version).toBe(3);
  });

  it('times out every unanswered request and none that was answered', async () => {
    const s = await server();
    for (const i of [11, 13, 15]) s.silent.add(i);
    const conn = await connect(s.address, 100);
    const outcomes = await Promise.allSettled([10, 11, 12, 13, 14, 15].map((i) => conn.info(extent(i))));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected']);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: ErrorCode.Timeout });
  });

  it('does not time out a slow reply when timeouts are off, and a late reply after a timeout is ignored', async () => {
    const s = await server();
    const patient = await connect(s.address, 0);
    const slow = patient.info(extent(100));
    await new Promise((resolve) => setTimeout(resolve, 200));
    s.release();
    expect((await slow).version).toBe(100);

    const hasty = await connect(s.address, 50);
    await expect(hasty.info(extent(101))).rejects.toMatchObject({ code: ErrorCode.Timeout });
    s.release(); // the reply to the timed-out request arrives and is dropped
    expect((await hasty.info(extent(4))).version).toBe(4);
    expect(hasty.closed).toBe(false);
  });
});

describe('data connection probes', () => {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  it('fails the connection, long before the request timeout, when the server goes silent and ignores a ping', async () => {
    const s = await server();
    const conn = await connect(s.address, 60_000, { probeAfterMs: 50, probeTimeoutMs: 100 });
    expect((await conn.info(extent(1))).version).toBe(1);
    s.deaf = true;
    const outcomes = await Promise.allSettled([conn.info(extent(2)), conn.info(extent(3))]);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: ErrorCode.Unavailable, message: expect.stringMatching(/sent nothing for \d+ ms with 2 request\(s\) waiting and did not answer a ping/) });
    }
    expect(conn.closed).toBe(true);
    expect(s.pings).toBe(1);
  });

  it('keeps a slow request while the server answers pings, and sends none while idle or busy answering', async () => {
    const s = await server();
    const conn = await connect(s.address, 60_000, { probeAfterMs: 30, probeTimeoutMs: 5_000 });
    const slow = conn.info(extent(100)); // held until release()
    while (s.pings < 3) await sleep(10); // a held request gets the server pinged again and again (the test's timeout bounds this)
    s.release();
    expect((await slow).version).toBe(100);
    expect(conn.closed).toBe(false);

    const quiet = await connect(s.address, 60_000, { probeAfterMs: 1_000 });
    const before = s.pings;
    for (let i = 0; i < 20; i++) expect((await quiet.info(extent(i))).version).toBe(i);
    await sleep(1_200);
    expect(s.pings, 'no ping while answers keep coming, nor without requests in flight').toBe(before);
  });

  it('never probes with probeAfterMs 0 (then only the request timeout applies)', async () => {
    const s = await server();
    s.deaf = true;
    const conn = await connect(s.address, 300, { probeAfterMs: 0 });
    await expect(conn.info(extent(1))).rejects.toMatchObject({ code: ErrorCode.Timeout });
    expect([s.pings, conn.closed]).toEqual([0, false]);
  });
});

describe('data connection tokens', () => {
  it('assembles large read replies in the frame pool, so data given back serves the next read', async () => {
    const s = await server();
    const pool = new FramePool(8 * MiB);
    const conn = await DataConnection.connect(s.address, { framePool: pool });
    cleanups.push(() => conn.close());
    const first = (await conn.read(extent(5), 0, MiB)).data;
    expect(first.equals(Buffer.alloc(MiB, 5))).toBe(true);
    pool.give(first);
    const second = (await conn.read(extent(6), MiB, MiB)).data;
    expect(second.buffer).toBe(first.buffer);
    expect(second.equals(Buffer.alloc(MiB, 6))).toBe(true);
  });

  it('presents each token once per connection, as AUTH ahead of the first request that carries it', async () => {
    const s = await server();
    const cap = Buffer.from('capability');
    const state1 = Buffer.from('state-1');
    const state2 = Buffer.from('state-2');
    const conn = await connect(s.address, 5_000);
    await conn.info({ ...extent(1), auth: [cap, state1] });
    await conn.info({ ...extent(1), auth: [cap, state1] });
    await conn.info({ ...extent(2), auth: [cap, state2] });
    expect(s.frames).toEqual(['auth:capability', 'auth:state-1', `${DataOp.Info}:1`, `${DataOp.Info}:1`, 'auth:state-2', `${DataOp.Info}:2`]);
    const again = await connect(s.address, 5_000);
    await again.info({ ...extent(1), auth: [cap, state1] });
    expect(s.frames.slice(6)).toEqual(['auth:capability', 'auth:state-1', `${DataOp.Info}:1`]);
  });

  it('sends a token the server refused again with the next request that carries it', async () => {
    const s = await server();
    s.refused.add(0); // the placeholder extent of AUTH frames
    const token = Buffer.from('not yet');
    const conn = await connect(s.address, 5_000);
    await conn.info({ ...extent(1), auth: [token] });
    await conn.info({ ...extent(1), auth: [token] });
    expect(s.frames).toEqual(['auth:not yet', `${DataOp.Info}:1`, 'auth:not yet', `${DataOp.Info}:1`]);
  });
});
