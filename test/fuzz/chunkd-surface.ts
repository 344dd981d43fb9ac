import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { MiB, limits } from '@basalt/stdx';
import { startChunkd } from '@basalt/chunk';
import {
  DataConnection, DataOp, FrameSplitter, decodeRequest, decodeResponse, encodeRequest, framePrefixBytes, pieceCrcs, requestMagic, responseMagic,
  type DataRequest, type ExtentRef,
} from '@basalt/wire';
import { bytes, counter, isStableCode, mutate, mutation, runParameters, type FuzzOptions } from './surface.js';

/**
 * A chunk server in this process, over a real loopback socket to real files. Each input is one
 * connection: request frames for one extent (write, trim, write-zeroes, read), mutated (truncated,
 * bytes overwritten, a tail appended, replayed), or random bytes, or a prefix claiming a body above
 * the frame limit. Properties: the server answers or closes (no hang: bounded by the run's
 * per-input timeout); every error reply carries a stable code; the extent's bytes afterwards are
 * exactly the bytes before plus the mutations the server acknowledged, so a refused input changes
 * no stored byte; the server keeps serving a well-behaved connection.
 */
const regionBytes = 64 * 1024;

/** A request on the extent's first region; the input numbers its requests 1, 2, ... (encodeRequest). */
function requestFor(extent: ExtentRef): fc.Arbitrary<DataRequest> {
  return fc
    .record({
      op: fc.constantFrom(DataOp.Write, DataOp.Write, DataOp.Trim, DataOp.WriteZeroes, DataOp.Read),
      offset: fc.nat({ max: regionBytes - 1 }),
      length: fc.integer({ min: 1, max: 9000 }),
      fill: fc.integer({ min: 0, max: 255 }),
    })
    .map(({ op, offset, length, fill }): DataRequest => {
      const n = Math.min(length, regionBytes - offset);
      if (op !== DataOp.Write) return { op, flags: 0, requestId: 0, extent, offset, length: n };
      const payload = Buffer.alloc(n, fill);
      return { op, flags: 0, requestId: 0, extent, offset, length: n, payload, crcs: pieceCrcs(offset, payload) };
    });
}

/** The requests of one connection the server acknowledged, in stream order, once it has closed or answered all. */
async function exchange(port: number, input: Buffer): Promise<DataRequest[]> {
  const own = new FrameSplitter(requestMagic, limits.dataFrameBytesMax);
  const split = own.push(input);
  const clean = split.kind === 'frames' && own.pendingBytes === 0;
  /** Requests by id, each with its place in the stream. */
  const sent = new Map<number, { req: DataRequest; at: number }[]>();
  split.frames.forEach((f, at) => {
    const d = decodeRequest(f);
    if (d.kind === 'ok') sent.set(d.value.requestId, [...(sent.get(d.value.requestId) ?? []), { req: d.value, at }]);
  });
  const acknowledged: { req: DataRequest; at: number }[] = [];
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const replies = new FrameSplitter(responseMagic, limits.dataFrameBytesMax);
    let answered = 0;
    socket.on('data', (d: Buffer) => {
      const r = replies.push(d);
      if (r.kind === 'error') return reject(new Error(`the server sent a malformed stream: ${r.message}`));
      for (const f of r.frames) {
        answered++;
        const res = decodeResponse(f);
        if (res.kind === 'error') return reject(new Error(`the server sent a malformed reply: ${res.message}`));
        if (!res.value.ok && !isStableCode(res.value.code)) return reject(new Error(`unstable code ${res.value.code}`));
        // Refusals are not matched to requests: a broken stream's refusal carries request id 0.
        const one = res.value.ok ? sent.get(res.value.requestId)?.shift() : undefined;
        if (one !== undefined) acknowledged.push(one);
      }
      if (clean && answered === split.frames.length) socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    socket.write(input);
    // A stream that stops inside a frame or breaks is closed by the server once it has drained.
    if (!clean || split.frames.length === 0) socket.end();
  });
  // Replies may come in any order; the server applies overlapping requests in stream order.
  return acknowledged.sort((a, b) => a.at - b.at).map((a) => a.req);
}

function applyTo(model: Buffer, req: DataRequest): void {
  if (req.op === DataOp.Write) req.payload!.copy(model, req.offset);
  else if (req.op === DataOp.Trim || req.op === DataOp.WriteZeroes) model.fill(0, req.offset, req.offset + req.length);
}

export async function fuzzChunkd(o: FuzzOptions): Promise<void> {
  const tick = counter(o, 100);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-fuzz-chunkd-'));
  const chunkd = await startChunkd({ id: 'cs0', zone: 'z0', dataDir: dir, listen: '127.0.0.1:0', replicaTimeoutMs: 5_000 });
  const port = Number(chunkd.address.split(':')[1]);
  const good = await DataConnection.connect(chunkd.address);
  try {
    const extent: ExtentRef = { volumeId: 3, index: 0, extentSizeBytes: 4 * MiB, epoch: 1, generation: 1, replicas: [{ serverId: chunkd.id, address: chunkd.address }] };
    const model = Buffer.alloc(regionBytes, 0x5a);
    await good.write(extent, 0, model);
    const input = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.array(requestFor(extent), { minLength: 1, maxLength: 4 }), mutation).map(([reqs, m]) => mutate(Buffer.concat(reqs.flatMap((r, i) => encodeRequest(r, i + 1))), m)) },
      { weight: 2, arbitrary: bytes(256) },
      { weight: 1, arbitrary: fc.tuple(fc.integer({ min: limits.dataFrameBytesMax + 1, max: 0xffffffff }), bytes(32)).map(([body, tail]) => {
        const prefix = Buffer.alloc(framePrefixBytes);
        prefix.writeUInt32BE(requestMagic, 0);
        prefix.writeUInt32BE(body, 4);
        return Buffer.concat([prefix, tail]);
      }) },
    );
    const property = fc.asyncProperty(input, async (bytesIn) => {
      tick();
      for (const req of await exchange(port, bytesIn)) applyTo(model, req);
      const stored = (await good.read(extent, 0, regionBytes)).data;
      if (!stored.equals(model)) throw new Error('the stored bytes differ from the acknowledged writes');
    });
    await fc.assert(property, runParameters(o));
  } finally {
    good.close();
    await chunkd.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
