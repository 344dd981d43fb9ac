import { describe, expect, it } from 'vitest';
import { ErrorCode, limits, MiB, Prng } from '@basalt/stdx';
import { DataFlag, DataOp, ExtentState, requestHeaderBytes, requestMagic, responseMagic } from './constants.js';
import { authRequest, decodeRequest, decodeResponse, decodeStampsPayload, encodeRequest, encodeResponse, encodeStampsPayload, resealRequestHeader, type DataRequest, type ExtentRef } from './codec.js';
import { FrameSplitter } from './frame-splitter.js';
import { firstBadPiece, pieceCount, pieceCrcs } from './pieces.js';

const SEED = Number(process.env.SEED ?? 4242);

function randomExtent(prng: Prng): ExtentRef {
  const n = prng.int(1, limits.replicationFactorMax);
  const replicas = Array.from({ length: n }, (_, i) => {
    const ref = { serverId: `cs-${i}-${prng.int(0, 999)}`, address: `127.0.0.1:${prng.int(1, 65535)}` };
    return i > 0 && prng.chance(0.3) ? { ...ref, rebuilding: true } : ref;
  });
  return { volumeId: prng.int(0, 2 ** 53 - 1), index: prng.int(0, 2 ** 32 - 1), extentSizeBytes: 2 ** prng.int(20, 30), epoch: prng.int(0, 2 ** 40), generation: prng.int(0, 2 ** 40), replicas };
}

const block = limits.checksumBlockBytes;

function randomRequest(prng: Prng): DataRequest {
  const extent = randomExtent(prng);
  const op = prng.pick([DataOp.Read, DataOp.Write, DataOp.Flush, DataOp.Trim, DataOp.WriteZeroes, DataOp.Info, DataOp.Ping, DataOp.Stamps, DataOp.Copy, DataOp.Snapshot, DataOp.SnapshotDelete, DataOp.SnapshotRead, DataOp.SnapshotDiff]);
  const requestId = prng.nextUint32();
  const snapshot = prng.int(1, 2 ** 32 - 1);
  if (op === DataOp.Snapshot) return { op, flags: prng.pick([0, DataFlag.Forwarded]), requestId, extent, offset: 0, length: 0, snapshot, stamp: { epoch: prng.nextUint32(), seq: prng.nextUint32() } };
  if (op === DataOp.SnapshotDelete) return { op, flags: prng.pick([0, DataFlag.Forwarded]), requestId, extent, offset: 0, length: 0, snapshot };
  if (op === DataOp.SnapshotRead) {
    const length = prng.int(1, 1 * MiB);
    return { op, flags: 0, requestId, extent, offset: prng.int(0, extent.extentSizeBytes - length), length, snapshot };
  }
  if (op === DataOp.SnapshotDiff) {
    const blocks = prng.int(1, Math.min(limits.snapshotDiffBlocksMax, extent.extentSizeBytes / block));
    return { op, flags: 0, requestId, extent, offset: prng.int(0, extent.extentSizeBytes / block - blocks) * block, length: blocks * block, snapshotFrom: prng.int(0, 2 ** 32 - 1), snapshot: prng.int(0, 2 ** 32 - 1) };
  }
  if (op === DataOp.Flush || op === DataOp.Info || op === DataOp.Ping) return { op, flags: 0, requestId, extent, offset: 0, length: 0 };
  if (op === DataOp.Stamps || op === DataOp.Copy) {
    const blocks = prng.int(1, op === DataOp.Copy ? 16 : Math.min(4096, extent.extentSizeBytes / block));
    const offset = prng.int(0, extent.extentSizeBytes / block - blocks) * block;
    if (op === DataOp.Stamps) return { op, flags: prng.pick([0, DataFlag.Verify, DataFlag.Forwarded | DataFlag.Verify]), requestId, extent, offset, length: blocks * block };
    const payload = Buffer.from(prng.fill(new Uint8Array(blocks * block)));
    const stamps = { epochs: Uint32Array.from({ length: blocks }, () => prng.nextUint32()), seqs: Uint32Array.from({ length: blocks }, () => prng.nextUint32()) };
    return { op, flags: DataFlag.Forwarded, requestId, extent, offset, length: payload.length, crcs: pieceCrcs(offset, payload), payload, stamps, floorEpoch: prng.nextUint32() };
  }
  const length = prng.int(1, op === DataOp.Write ? 64 * 1024 : 1 * MiB);
  const offset = prng.int(0, extent.extentSizeBytes - length);
  if (op === DataOp.Read) return { op, flags: 0, requestId, extent, offset, length };
  const flags = prng.pick([0, DataFlag.Fua, DataFlag.Forwarded, DataFlag.Fua | DataFlag.Forwarded]);
  const stamp = { epoch: prng.nextUint32(), seq: prng.nextUint32() };
  if (op !== DataOp.Write) return { op, flags, requestId, extent, offset, length, stamp };
  const payload = Buffer.from(prng.fill(new Uint8Array(length)));
  return { op, flags, requestId, extent, offset, length, payload, crcs: pieceCrcs(offset, payload), stamp };
}

/** Gives a mutated frame a valid header CRC when its header fits in it. */
function resealIfPossible(frame: Buffer): void {
  if (frame.length < requestHeaderBytes) return;
  try {
    resealRequestHeader(frame);
  } catch {
    // A header that overruns its frame keeps its (now wrong) CRC.
  }
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
      if (req.op === DataOp.Write || req.op === DataOp.Copy) {
        expect(Buffer.compare(decoded.value.payload!, req.payload!)).toBe(0);
        expect(decoded.value.crcs).toEqual(req.crcs);
      }
      expect([decoded.value.stamp, decoded.value.stamps, decoded.value.floorEpoch]).toEqual([req.stamp, req.stamps, req.floorEpoch]);
    }
  });

  it('round-trips the stamps payload, and refuses one that does not match its block count', () => {
    const prng = new Prng(SEED);
    for (let i = 0; i < 50; i++) {
      const n = prng.int(0, 300);
      const out = {
        epochs: Uint32Array.from({ length: n }, () => prng.nextUint32()),
        seqs: Uint32Array.from({ length: n }, () => prng.nextUint32()),
        crcs: Uint32Array.from({ length: n }, () => prng.nextUint32()),
        bad: Array.from({ length: prng.int(0, 5) }, () => prng.nextUint32()),
      };
      const payload = encodeStampsPayload(out);
      expect(decodeStampsPayload(payload, out.crcs, n), `SEED=${SEED} i=${i}`).toEqual(out);
      expect(decodeStampsPayload(payload, out.crcs, n + 1)).toBeUndefined();
      expect(decodeStampsPayload(payload.subarray(0, payload.length - 1), out.crcs, n)).toBeUndefined();
    }
  });

  it('refuses COPY without FORWARDED, VERIFY on anything but STAMPS, ranges of partial blocks for both, and unknown replica flags', () => {
    const prng = new Prng(SEED);
    const extent = { ...randomExtent(prng), extentSizeBytes: MiB };
    const payload = Buffer.alloc(block, 1);
    const copy: DataRequest = { op: DataOp.Copy, flags: DataFlag.Forwarded, requestId: 5, extent, offset: block, length: block, crcs: pieceCrcs(0, payload), payload, stamps: { epochs: Uint32Array.of(3), seqs: Uint32Array.of(4) }, floorEpoch: 3 };
    expect(decodeRequest(Buffer.concat(encodeRequest(copy)))).toMatchObject({ kind: 'ok' });
    const cases: [string, (f: Buffer) => void, DataRequest][] = [
      ['copy without FORWARDED', (f) => f.writeUInt8(0, 9), copy],
      ['verify on a read', (f) => f.writeUInt8(DataFlag.Verify, 9), { op: DataOp.Read, flags: 0, requestId: 5, extent, offset: 0, length: 10 }],
      ['stamps of a partial block', (f) => f.writeUInt32BE(100, 28), { op: DataOp.Stamps, flags: 0, requestId: 5, extent, offset: 0, length: block }],
      ['unknown replica flag', (f) => f.writeUInt8(0x80, 68), { op: DataOp.Info, flags: 0, requestId: 5, extent, offset: 0, length: 0 }],
    ];
    for (const [what, edit, req] of cases) {
      const frame = Buffer.concat(encodeRequest(req));
      edit(frame);
      resealRequestHeader(frame);
      expect(decodeRequest(frame), what).toMatchObject({ kind: 'error', code: ErrorCode.Protocol });
    }
  });

  it('round-trips ok and error replies', () => {
    const payload = Buffer.from('hello world, hello blocks');
    const ok = decodeResponse(Buffer.concat(encodeResponse({ ok: true, requestId: 7, epoch: 2 ** 40, version: 9, state: ExtentState.Active, crcs: pieceCrcs(100, payload), payload })));
    expect(ok.kind === 'ok' && ok.value.ok && ok.value.payload.toString()).toBe(payload.toString());
    expect(ok.kind === 'ok' && ok.value.epoch).toBe(2 ** 40);
    const err = decodeResponse(Buffer.concat(encodeResponse({ ok: false, requestId: 8, epoch: 3, version: 0, state: ExtentState.Fenced, code: ErrorCode.StaleEpoch, message: 'epoch 2 is older than 3' })));
    expect(err).toMatchObject({ kind: 'ok', value: { ok: false, requestId: 8, code: 'BASALT_STALE_EPOCH', state: ExtentState.Fenced, message: 'epoch 2 is older than 3' } });
    expect(err.kind === 'ok' && !err.value.ok && err.value.signedState).toBeUndefined();
    const state = Buffer.from('BCP1 a signed state of epoch 3');
    const carried = Buffer.concat(encodeResponse({ ok: false, requestId: 8, epoch: 3, version: 0, state: ExtentState.Active, code: ErrorCode.StaleEpoch, message: 'epoch 2 is older than 3', signedState: state }));
    const decoded = decodeResponse(carried);
    expect(decoded).toMatchObject({ kind: 'ok', value: { ok: false, code: 'BASALT_STALE_EPOCH', message: 'epoch 2 is older than 3', signedState: state } });
    expect(decodeResponse(carried.subarray(0, carried.length - 1))).toMatchObject({ kind: 'error', code: 'BASALT_PROTOCOL' });
    const rebuilding = decodeResponse(Buffer.concat(encodeResponse({ ok: true, requestId: 9, epoch: 4, version: 0, state: ExtentState.Rebuilding, crcs: new Uint32Array(0), payload: Buffer.alloc(0) })));
    expect(rebuilding).toMatchObject({ kind: 'ok', value: { state: ExtentState.Rebuilding } });
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
      if (prng.chance(0.3)) resealIfPossible(mutated); // past the header CRC, into the field checks
      const splitter = new FrameSplitter(requestMagic, limits.dataFrameBytesMax);
      const split = splitter.push(mutated);
      const decodeAll = (): void => {
        for (const f of split.frames) if (decodeRequest(f).kind === 'error') errors++;
        if (decodeRequest(mutated).kind === 'error') errors++;
        if (decodeResponse(mutated).kind === 'error') errors++;
        const blocks = prng.int(0, 20);
        decodeStampsPayload(mutated, new Uint32Array(blocks), blocks);
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

describe('AUTH frames', () => {
  it('carry a token and round-trip; a token of the wrong size or with a range is refused', () => {
    const token = Buffer.from('a token of some bytes');
    const frame = Buffer.concat(encodeRequest(authRequest(token), 9));
    const decoded = decodeRequest(frame);
    expect(decoded.kind).toBe('ok');
    if (decoded.kind === 'ok') {
      expect(decoded.value).toMatchObject({ op: DataOp.Auth, requestId: 9, length: token.length });
      expect(decoded.value.payload!.equals(token)).toBe(true);
    }
    const big = Buffer.concat(encodeRequest(authRequest(Buffer.alloc(limits.capabilityTokenBytesMax + 1))));
    expect(decodeRequest(big)).toMatchObject({ kind: 'error', code: ErrorCode.Protocol });
    const withOffset = Buffer.from(frame);
    withOffset.writeUInt32BE(4096, 36);
    resealRequestHeader(withOffset);
    expect(decodeRequest(withOffset)).toMatchObject({ kind: 'error', code: ErrorCode.Protocol });
  });
});
