import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, MiB, Prng } from '@basalt/stdx';
import { DataConnection, DataOp, ExtentState, FrameSplitter, decodeResponse, encodeRequest, pieceCrcs, pingExtent, requestMagic, responseMagic, type ExtentRef } from '@basalt/wire';
import { startChunkd, type Chunkd } from '../chunkd.js';

/** chunkd servers in this process, talking over real loopback sockets to real files. */
const SEED = Number(process.env.SEED ?? 11);
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function servers(n: number): Promise<Chunkd[]> {
  const out: Chunkd[] = [];
  for (let i = 0; i < n; i++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-chunkd-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const c = await startChunkd({ id: `cs${i}`, zone: `z${i}`, dataDir: dir, listen: '127.0.0.1:0', replicaTimeoutMs: 5_000 });
    cleanup.push(() => c.close());
    out.push(c);
  }
  return out;
}

async function connect(c: Chunkd): Promise<DataConnection> {
  const conn = await DataConnection.connect(c.address);
  cleanup.push(() => conn.close());
  return conn;
}

function extentOn(cs: Chunkd[], epoch = 1, generation = 1): ExtentRef {
  return { volumeId: 3, index: 0, extentSizeBytes: 4 * MiB, epoch, generation, replicas: cs.map((c) => ({ serverId: c.id, address: c.address })) };
}

describe('chunkd (in process)', () => {
  it('replicates writes to every member, readable from each, with out-of-order pipelined replies', async () => {
    const cs = await servers(3);
    const ext = extentOn(cs);
    const primary = await connect(cs[0]!);
    const prng = new Prng(SEED);
    const model = Buffer.alloc(ext.extentSizeBytes);
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      const len = prng.int(1, 20_000);
      const off = prng.int(0, ext.extentSizeBytes - len);
      const data = Buffer.from(prng.fill(new Uint8Array(len)));
      data.copy(model, off);
      writes.push(primary.write(ext, off, data, { fua: i % 10 === 0 }));
    }
    await Promise.all(writes);
    await primary.flush(ext);
    for (const c of cs) {
      const conn = await connect(c);
      const got = await conn.read(ext, 0, ext.extentSizeBytes);
      expect(Buffer.compare(got.data, model), `replica ${c.id}`).toBe(0);
      expect(got.version).toBe(100);
    }
  });

  it('queues requests beyond the connection in-flight budget and completes them all', async () => {
    const cs = await servers(1);
    const conn = await DataConnection.connect(cs[0]!.address, { inflightBytesMax: 200 * 1024 });
    cleanup.push(() => conn.close());
    const ext = extentOn(cs);
    let most = 0;
    const writes = Array.from({ length: 40 }, (_, i) => {
      const p = conn.write(ext, i * 65536, Buffer.alloc(65536, i));
      most = Math.max(most, conn.inflightByteCount);
      return p;
    });
    await Promise.all(writes);
    expect(most).toBeLessThanOrEqual(200 * 1024);
    const got = await conn.read(ext, 0, 40 * 65536);
    for (let i = 0; i < 40; i++) expect(got.data[i * 65536 + 100]).toBe(i);
  });

  it('refuses a stale epoch, a write to a secondary and an old generation', async () => {
    const cs = await servers(2);
    const conn = await connect(cs[0]!);
    await conn.write(extentOn(cs, 2, 5), 0, Buffer.alloc(4096, 1));
    await expect(conn.write(extentOn(cs, 1, 5), 0, Buffer.alloc(4096, 2))).rejects.toMatchObject({ code: ErrorCode.StaleEpoch, details: { epoch: 2 } });
    await expect(conn.write(extentOn(cs, 2, 4), 0, Buffer.alloc(4096, 2))).rejects.toMatchObject({ code: ErrorCode.LeaseFenced });
    const secondary = await connect(cs[1]!);
    await expect(secondary.write(extentOn(cs, 2, 5), 0, Buffer.alloc(4096, 3))).rejects.toMatchObject({ code: ErrorCode.NotPrimary });
    expect((await secondary.read(extentOn(cs, 2), 0, 4096)).data.every((b) => b === 1)).toBe(true);
  });

  it('fences a replica for good once a newer epoch leaves it out', async () => {
    const cs = await servers(3);
    const all = extentOn(cs, 1);
    await (await connect(cs[0]!)).write(all, 0, Buffer.alloc(4096, 9));
    const third = await connect(cs[2]!);
    const without = { ...extentOn(cs.slice(0, 2), 2) };
    await expect(third.read(without, 0, 4096)).rejects.toMatchObject({ code: ErrorCode.StaleEpoch });
    await expect(third.read(all, 0, 4096)).rejects.toMatchObject({ code: ErrorCode.StaleEpoch, details: { state: ExtentState.Fenced } });
  });

  it('answers bad input with an error and a closed connection, and keeps serving others', async () => {
    const cs = await servers(1);
    const good = await connect(cs[0]!);
    const bad = net.connect({ host: '127.0.0.1', port: Number(cs[0]!.address.split(':')[1]) });
    const received: Buffer[] = [];
    bad.on('data', (d: Buffer) => received.push(d));
    const closed = new Promise<void>((resolve) => bad.on('close', () => resolve()));
    const frame = Buffer.alloc(8);
    frame.writeUInt32BE(requestMagic, 0);
    frame.writeUInt32BE(0x7fffffff, 4);
    bad.write(frame);
    await closed;
    expect(Buffer.concat(received).toString('latin1')).toContain('BASALT_PROTOCOL');
    expect((await good.read(extentOn(cs), 0, 10)).data).toEqual(Buffer.alloc(10));
  });

  it('answers the requests in flight when a client half-closes, inside a frame or after its last one', async () => {
    const cs = await servers(1);
    const ext = extentOn(cs);
    const port = Number(cs[0]!.address.split(':')[1]);
    const payload = Buffer.alloc(8192, 7);
    const write = (requestId: number, offset: number): Buffer => Buffer.concat(encodeRequest({ op: DataOp.Write, flags: 0, requestId, extent: ext, offset, length: payload.length, payload, crcs: pieceCrcs(offset, payload) }));
    const exchange = (bytes: Buffer): Promise<{ requestId: number; code: string | undefined }[]> => new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const splitter = new FrameSplitter(responseMagic, 1 << 20);
      const replies: { requestId: number; code: string | undefined }[] = [];
      socket.on('data', (d: Buffer) => {
        for (const f of splitter.push(d).frames) {
          const r = decodeResponse(f);
          if (r.kind === 'ok') replies.push({ requestId: r.value.requestId, code: r.value.ok ? undefined : r.value.code });
        }
      });
      socket.on('close', () => resolve(replies.sort((a, b) => a.requestId - b.requestId)));
      socket.end(bytes);
    });
    expect(await exchange(Buffer.concat([write(5, 0), Buffer.from([1, 2, 3])]))).toEqual([{ requestId: 0, code: ErrorCode.Protocol }, { requestId: 5, code: undefined }]);
    expect(await exchange(write(6, 8192))).toEqual([{ requestId: 6, code: undefined }]);
    const conn = await connect(cs[0]!);
    expect(Buffer.compare((await conn.read(ext, 0, 16384)).data, Buffer.concat([payload, payload]))).toBe(0);
  });

  it('answers a PING at once, whatever extent it names, while a replicated write waits for a silent secondary', async () => {
    const [primary] = await servers(1);
    // The secondary accepts connections and never answers: the write waits for it.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => void silent.close());
    const ext: ExtentRef = { ...extentOn([primary!]), replicas: [{ serverId: primary!.id, address: primary!.address }, { serverId: 'mute', address: `127.0.0.1:${(silent.address() as net.AddressInfo).port}` }] };
    const conn = await connect(primary!);
    let written = 'waiting';
    void conn.write(ext, 0, Buffer.alloc(4096, 1)).then(() => (written = 'answered'), () => (written = 'failed'));
    const pinged = await conn.send({ op: DataOp.Ping, flags: 0, requestId: 0, extent: pingExtent, offset: 0, length: 0 });
    expect([pinged.epoch, pinged.state, pinged.payload.length]).toEqual([0, ExtentState.Absent, 0]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(written, 'the write sent before the ping still waits for its secondary').toBe('waiting');
  });
  it('syncs only the receiving replica on a LOCAL flush, at any member, where a plain flush at the primary reaches every member', async () => {
    const cs = await servers(3);
    const ext = extentOn(cs);
    const conns = await Promise.all(cs.map((c) => connect(c)));
    await conns[0]!.write(ext, 0, Buffer.alloc(8192, 7));
    const flushes = async (): Promise<number[]> => Promise.all(cs.map(async (c) => (await c.metrics.ops.get()).values.find((v) => v.labels.op === 'flush' && v.labels.result === 'ok')?.value ?? 0));
    for (const conn of conns) expect(await conn.flush(ext, { local: true })).toMatchObject({ epoch: 1, state: ExtentState.Active });
    expect(await flushes()).toEqual([1, 1, 1]);
    await conns[0]!.flush(ext);
    expect(await flushes()).toEqual([2, 2, 2]);
    await expect(conns[1]!.flush(ext)).rejects.toMatchObject({ code: ErrorCode.NotPrimary });
    await expect(conns[1]!.flush({ ...ext, epoch: 0 }, { local: true })).rejects.toMatchObject({ code: ErrorCode.StaleEpoch });
  });
});
