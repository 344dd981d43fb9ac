import { describe, expect, it } from 'vitest';
import { ErrorCode, limits, MiB, Prng } from '@basalt/stdx';
import { DataFlag, DataOp, ExtentState, requestMagic, responseMagic } from './constants.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, resealRequestHeader, type DataRequest, type ExtentRef } from './codec.js';
import { FrameSplitter } from './frame-splitter.js';
import { firstBadPiece, pieceCount, pieceCrcs } from './pieces.js';

const SEED = Number(process.env.SEED ?? 4242);

function randomExtent(prng: Prng): ExtentRef {
  const n = prng.int(1, limits.replicationFactorMax);
  const replicas = Array.from({ length: n }, (_, i) => ({ serverId: `cs-${i}-${prng.int(0, 999)}`, address: `127.0.0.1:${prng.int(1, 65535)}` }));
  return { volumeId: prng.int(0, 2 ** 53 - 1), index: prng.int(0, 2 ** 32 - 1), extentSizeBytes: 2 ** prng.int(20, 30), epoch: prng.int(0, 2 ** 40), generation: prng.int(0, 2 ** 40), replicas };
}

function randomRequest(prng: Prng): DataRequest {
  const extent = randomExtent(prng);
  const op = prng.pick([DataOp.Read, DataOp.Write, DataOp.Flush, DataOp.Trim, DataOp.WriteZeroes, DataOp.Info, DataOp.Ping]);
  if (op === DataOp.Flush || op === DataOp.Info || op === DataOp.Ping) return { op, flags: 0, requestId: prng.nextUint32(), extent, offset: 0, length: 0 };
  const length = prng.int(1, op === DataOp.Write ? 64 * 1024 : 1 * MiB);
  const offset = prng.int(0, extent.extentSizeBytes - length);
  const flags = op === DataOp.Read ? 0 : prng.pick([0, DataFlag.Fua, DataFlag.Forwarded, DataFlag.Fua | DataFlag.Forwarded]);
  if (op !== DataOp.Write) return { op, flags, requestId: prng.nextUint32(), extent, offset, length };
  const payload = Buffer.from(prng.fill(new Uint8Array(length)));
  return { op, flags, requestId: prng.nextUint32(), extent, offset, length, payload, crcs: pieceCrcs(offset, payload) };
}

describe('data-plane codec', () => {
  it('decodes every encoded request to the same request', () => {
    const prng = new Prng(SEED);
    for (let i = 0; i < 300; i++) {
      const req = randomRequest(prng);
      const decoded = decodeRequest(Buffer.concat(encodeRequest(req)));
      expect(decoded.kind, `SEED=${SEED} i=${i}`).toBe('ok');
      if (decoded.kind !== 'ok') continue;
      expect(decoded.value.extent).toEqual(req.extent);
      expect([decoded.value.op, decoded.value.flags, decoded.value.requestId, decoded.value.offset, decoded.value.length]).toEqual([req.op, req.flags, req.requestId, req.offset, req.length]);
      if (req.op === DataOp.Write) {
        expect(Buffer.compare(decoded.value.payload!, req.payload!)).toBe(0);
        expect(decoded.value.crcs).toEqual(req.crcs);
      }
    }
  });

  it('round-trips ok and error replies', () => {
    const payload = Buffer.from('hello world, hello blocks');
    const ok = decodeResponse(Buffer.concat(encodeResponse({ ok: true, requestId: 7, epoch: 2 ** 40, version: 9, state: ExtentState.Active, crcs: pieceCrcs(100, payload), payload })));
    expect(ok.kind === 'ok' && ok.value.ok && ok.value.payload.toString()).toBe(payload.toString());
    expect(ok.kind === 'ok' && ok.value.epoch).toBe(2 ** 40);
    const err = decodeResponse(Buffer.concat(encodeResponse({ ok: false, requestId: 8, epoch: 3, version: 0, state: ExtentState.Fenced, code: ErrorCode.StaleEpoch, message: 'epoch 2 is older than 3' })));
    expect(err).toMatchObject({ kind: 'ok', value: { ok: false, requestId: 8, code: 'BASALT_STALE_EPOCH', state: ExtentState.Fenced, message: 'epoch 2 is older than 3' } });
  });

  it('names the request id and the fault of a bad request', () => {
    const prng = new Prng(SEED);
    const req = { ...randomRequest(prng), op: DataOp.Read, flags: 0, requestId: 99, offset: 0, length: 4096 } as DataRequest;
    const frame = Buffer.concat(encodeRequest(req));
    frame.writeUInt8(77, 8);
    expect(decodeRequest(frame), 'a changed header fails its checksum').toMatchObject({ kind: 'error', requestId: 0, code: ErrorCode.Protocol });
    resealRequestHeader(frame);
    expect(decodeRequest(frame)).toMatchObject({ kind: 'error', requestId: 99, code: ErrorCode.Protocol });
    const outOfRange = Buffer.concat(encodeRequest({ ...req, offset: req.extent.extentSizeBytes - 4096 }));
    outOfRange.writeUInt32BE(8192, 28);
    resealRequestHeader(outOfRange);
    expect(decodeRequest(outOfRange)).toMatchObject({ kind: 'error', requestId: 99, code: ErrorCode.OutOfRange });
    const tooLong = Buffer.concat(encodeRequest(req));
    tooLong.writeUInt32BE(limits.ioRequestBytesMax + 1, 28);
    resealRequestHeader(tooLong);
    expect(decodeRequest(tooLong)).toMatchObject({ kind: 'error', code: ErrorCode.Protocol });
  });

  it('never throws on mutated, truncated or random frames (fuzz)', () => {
    const prng = new Prng(SEED);
    let errors = 0;
    for (let i = 0; i < 2000; i++) {
      const frame = Buffer.concat(encodeRequest(randomRequest(prng)));
      const mutated = prng.chance(0.5) ? frame.subarray(0, prng.int(0, frame.length)) : Buffer.from(frame);
      for (let k = prng.int(0, 4); k > 0 && mutated.length > 0; k--) mutated[prng.int(0, mutated.length - 1)] = prng.int(0, 255);
      const splitter = new FrameSplitter(requestMagic, limits.dataFrameBytesMax);
      const split = splitter.push(mutated);
      const decodeAll = (): void => {
        for (const f of split.frames) if (decodeRequest(f).kind === 'error') errors++;
        if (decodeRequest(mutated).kind === 'error') errors++;
        if (decodeResponse(mutated).kind === 'error') errors++;
      };
      expect(decodeAll, `SEED=${SEED} i=${i}`).not.toThrow();
    }
    expect(errors).toBeGreaterThan(1000);
  });
});

describe('frame splitter', () => {
  it('yields the same frames however the stream is cut', () => {
    const prng = new Prng(SEED + 1);
    const frames = Array.from({ length: 50 }, () => Buffer.concat(encodeRequest(randomRequest(prng))));
    const stream = Buffer.concat(frames);
    const splitter = new FrameSplitter(requestMagic, limits.dataFrameBytesMax);
    const out: Buffer[] = [];
    for (let pos = 0; pos < stream.length; ) {
      const n = prng.int(1, prng.chance(0.2) ? 200_000 : 9);
      const r = splitter.push(stream.subarray(pos, pos + n));
      expect(r.kind).toBe('frames');
      out.push(...r.frames);
      pos += n;
    }
    expect(out.length).toBe(frames.length);
    out.forEach((f, i) => expect(Buffer.compare(f, frames[i]!)).toBe(0));
    expect(splitter.pendingBytes).toBe(0);
  });

  it('refuses absurd lengths and bad magic, and stays broken', () => {
    const absurd = Buffer.alloc(8);
    absurd.writeUInt32BE(requestMagic, 0);
    absurd.writeUInt32BE(0xffffffff, 4);
    const s = new FrameSplitter(requestMagic, limits.dataFrameBytesMax);
    expect(s.push(absurd).kind).toBe('error');
    expect(s.push(Buffer.alloc(100)).kind).toBe('error');
    const wrong = Buffer.alloc(8);
    wrong.writeUInt32BE(responseMagic, 0);
    expect(new FrameSplitter(requestMagic, 100).push(wrong)).toMatchObject({ kind: 'error' });
  });
});

describe('pieces', () => {
  it('cuts ranges at 4 KiB block boundaries and detects a flipped bit', () => {
    expect(pieceCount(0, 4096)).toBe(1);
    expect(pieceCount(4095, 2)).toBe(2);
    expect(pieceCount(100, 3 * 4096)).toBe(4);
    expect(pieceCount(0, 0)).toBe(0);
    const data = new Prng(SEED).fill(new Uint8Array(10_000));
    const crcs = pieceCrcs(1000, data);
    expect(firstBadPiece(1000, data, crcs)).toBe(-1);
    data[5000]! ^= 1;
    expect(firstBadPiece(1000, data, crcs)).toBe(1);
  });
});
