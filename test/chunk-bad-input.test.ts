import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, limits, Prng } from '@basalt/stdx';
import { DataOp, decodeResponse, encodeRequest, FrameSplitter, pieceCrcs, requestMagic, resealRequestHeader, responseMagic, type DataRequest } from '@basalt/wire';
import { Cleanup, connectData, extentRef, sample, scrape, spawnChunkd, tempDir } from './chunk-support.js';

/**
 * Bad input to a chunkd process: each case gets an error reply where one can be framed, then a
 * closed connection, never a crash or a hang; a well-behaved connection keeps being served.
 */
const SEED = Number(process.env.SEED ?? 77);
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Outcome {
  readonly replies: { requestId: number; code: string | undefined }[];
}

/** Sends bytes (then half-closes if asked) and collects replies until the server closes. */
function exchange(address: string, bytes: Buffer, end: boolean): Promise<Outcome> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: host!, port: Number(port) });
    const splitter = new FrameSplitter(responseMagic, limits.dataFrameBytesMax);
    const replies: Outcome['replies'] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server neither answered nor closed within 60 s'));
    }, 60_000);
    socket.on('data', (d: Buffer) => {
      for (const f of splitter.push(d).frames) {
        const r = decodeResponse(f);
        if (r.kind === 'ok') replies.push({ requestId: r.value.requestId, code: r.value.ok ? undefined : r.value.code });
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ replies });
    });
    socket.write(bytes);
    if (end) socket.end();
  });
}

describe('bad input to the data protocol', () => {
  it('gets an error and a closed connection, and the server keeps serving others', async () => {
    const proc = await spawnChunkd(cleanup, { id: 'bad0', dataDir: tempDir(cleanup) });
    const ext = extentRef([proc]);
    const good = await connectData(cleanup, proc.address);
    const data = Buffer.alloc(8192, 0x5a);
    await good.write(ext, 0, data);
    const valid = (over: Partial<DataRequest> = {}): Buffer => Buffer.concat(encodeRequest({ op: DataOp.Read, flags: 0, requestId: 41, extent: ext, offset: 0, length: 4096, ...over }));

    const absurd = Buffer.alloc(8);
    absurd.writeUInt32BE(requestMagic, 0);
    absurd.writeUInt32BE(0xfffffff0, 4);
    expect((await exchange(proc.address, absurd, false)).replies).toEqual([{ requestId: 0, code: ErrorCode.Protocol }]);

    const unknownOp = valid();
    unknownOp.writeUInt8(99, 8);
    resealRequestHeader(unknownOp);
    const mixed = (await exchange(proc.address, Buffer.concat([valid({ requestId: 40 }), unknownOp]), false)).replies;
    expect(mixed.sort((a, b) => a.requestId - b.requestId), 'the request before the bad one is answered too').toEqual([
      { requestId: 40, code: undefined },
      { requestId: 41, code: ErrorCode.Protocol },
    ]);

    const outOfRange = valid();
    outOfRange.writeUInt32BE(ext.extentSizeBytes, 28); // length: the whole extent, from offset 0 ...
    outOfRange.writeUInt32BE(1, 36); // ... at offset 1
    resealRequestHeader(outOfRange);
    expect((await exchange(proc.address, outOfRange, false)).replies).toEqual([{ requestId: 41, code: ErrorCode.OutOfRange }]);

    const write = Buffer.concat(encodeRequest({ op: DataOp.Write, flags: 0, requestId: 42, extent: ext, offset: 0, length: 4096, payload: Buffer.alloc(4096, 1), crcs: pieceCrcs(0, Buffer.alloc(4096, 1)) }));
    expect((await exchange(proc.address, write.subarray(0, 3000), true)).replies).toEqual([{ requestId: 0, code: ErrorCode.Protocol }]);

    const flipped = valid();
    flipped.writeUInt8(flipped.readUInt8(45) ^ 0x10, 45); // an epoch bit: caught by the header checksum
    expect((await exchange(proc.address, flipped, false)).replies).toEqual([{ requestId: 0, code: ErrorCode.Protocol }]);

    const badMagic = valid();
    badMagic.writeUInt32BE(0x47455420, 0); // "GET "
    expect((await exchange(proc.address, badMagic, false)).replies).toEqual([{ requestId: 0, code: ErrorCode.Protocol }]);

    const badCrc = Buffer.from(write);
    badCrc[badCrc.length - 1]! ^= 1; // a payload bit: caught by the piece checksum
    expect((await exchange(proc.address, badCrc, true)).replies).toEqual([{ requestId: 42, code: ErrorCode.Checksum }]);

    // Seeded garbage: valid frames with random bytes flipped, or pure noise.
    const prng = new Prng(SEED);
    for (let i = 0; i < 30; i++) {
      const bytes = prng.chance(0.5) ? Buffer.from(prng.fill(new Uint8Array(prng.int(1, 5000)))) : Buffer.from(valid({ requestId: i }));
      for (let k = prng.int(1, 3); k > 0; k--) bytes[prng.int(0, bytes.length - 1)] = prng.int(0, 255);
      await exchange(proc.address, bytes, true);
    }

    expect(proc.child.exitCode).toBeNull();
    expect(Buffer.compare((await good.read(ext, 0, 8192)).data, data)).toBe(0);
    expect(sample(await scrape(proc.metricsAddress), 'basalt_chunk_protocol_errors_total')).toBeGreaterThanOrEqual(5);
  });
});
