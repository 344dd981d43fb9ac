import fc from 'fast-check';
import { limits } from '@basalt/stdx';
import {
  DataOp, FrameSplitter, authRequest, decodeRequest, decodeResponse, encodeRequest, framePrefixBytes, pieceCrcs, requestMagic, responseMagic,
  type DataRequest,
} from '@basalt/wire';
import { bytes, counter, isStableCode, mutate, mutation, runParameters, type FuzzOptions } from './surface.js';

/**
 * The data protocol's pure codec and frame splitter, fed valid request frames after a mutation
 * (truncated, bytes overwritten, a tail appended, replayed) or raw random bytes, cut into random
 * chunks. Properties: the decoders never throw; each refusal carries a stable code; an unmutated
 * frame decodes to what was encoded; a truncated or extended one is refused; the splitter never
 * holds more than one frame's prefix and largest body, refuses a body above its limit at once,
 * and stays broken after an error.
 */
const extentSizeBytes = 4 * 2 ** 20;

export const validRequest: fc.Arbitrary<DataRequest> = fc
  .record({
    op: fc.constantFrom(DataOp.Read, DataOp.Write, DataOp.Trim, DataOp.WriteZeroes, DataOp.Flush, DataOp.Info, DataOp.Auth),
    requestId: fc.nat({ max: 0xffffffff }),
    volumeId: fc.nat(),
    index: fc.nat({ max: 0xffffffff }),
    epoch: fc.nat(),
    generation: fc.nat(),
    offset: fc.nat({ max: extentSizeBytes - 1 }),
    length: fc.integer({ min: 1, max: 20_000 }),
    replicas: fc.integer({ min: 1, max: limits.replicationFactorMax }),
    seed: fc.nat(),
  })
  .map((r): DataRequest => {
    if (r.op === DataOp.Auth) return { ...authRequest(Buffer.alloc(Math.min(r.length, limits.capabilityTokenBytesMax), r.seed & 0xff)), requestId: r.requestId };
    const ranged = r.op !== DataOp.Flush && r.op !== DataOp.Info;
    const length = ranged ? Math.min(r.length, extentSizeBytes - r.offset) : 0;
    const offset = ranged ? r.offset : 0;
    const replicas = Array.from({ length: r.replicas }, (_, i) => ({ serverId: `cs${i}`, address: `127.0.0.1:${7000 + i}` }));
    const extent = { volumeId: r.volumeId, index: r.index, extentSizeBytes, epoch: r.epoch, generation: r.generation, replicas };
    if (r.op !== DataOp.Write) return { op: r.op, flags: 0, requestId: r.requestId, extent, offset, length };
    const payload = Buffer.alloc(length, r.seed & 0xff);
    return { op: r.op, flags: 0, requestId: r.requestId, extent, offset, length, payload, crcs: pieceCrcs(offset, payload) };
  });

/** Chunk sizes to cut a stream at: mostly small, sometimes whole. */
const cuts = fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 16 });

/** A frame prefix claiming a body of `bodyBytes`. */
function prefix(magic: number, bodyBytes: number): Buffer {
  const b = Buffer.alloc(framePrefixBytes);
  b.writeUInt32BE(magic, 0);
  b.writeUInt32BE(bodyBytes, 4);
  return b;
}

/** Pushes `stream` in pieces and checks the splitter's bounds; returns the frames and whether it broke. */
function split(stream: Buffer, sizes: number[]): { frames: Buffer[]; broken: boolean } {
  const splitter = new FrameSplitter(requestMagic, limits.dataFrameBytesMax);
  const frames: Buffer[] = [];
  let broken = false;
  for (let pos = 0, i = 0; pos < stream.length; i++) {
    const n = sizes[i % sizes.length]!;
    const r = splitter.push(stream.subarray(pos, pos + n));
    pos += n;
    frames.push(...r.frames);
    if (broken && r.kind !== 'error') throw new Error('the splitter recovered after an error');
    if (r.kind === 'error') broken = true;
    if (splitter.pendingBytes > framePrefixBytes + limits.dataFrameBytesMax) throw new Error(`splitter holds ${splitter.pendingBytes} bytes`);
  }
  for (const f of frames) if (f.length !== framePrefixBytes + f.readUInt32BE(4)) throw new Error('a frame of the wrong length');
  return { frames, broken };
}

function checkDecoders(frame: Buffer): ReturnType<typeof decodeRequest> {
  const req = decodeRequest(frame);
  if (req.kind === 'error' && !isStableCode(req.code)) throw new Error(`unstable code ${req.code}`);
  const res = decodeResponse(frame);
  if (res.kind === 'error' && !isStableCode(res.code)) throw new Error(`unstable code ${res.code}`);
  return req;
}

function sameRequest(a: DataRequest, b: DataRequest): boolean {
  const head = (r: DataRequest) => JSON.stringify([r.op, r.flags, r.requestId, r.extent, r.offset, r.length]);
  if (head(a) !== head(b)) return false;
  if (a.payload === undefined) return b.payload === undefined || b.payload.length === 0;
  return b.payload !== undefined && a.payload.equals(b.payload) && Buffer.from(a.crcs!.buffer).equals(Buffer.from(b.crcs!.buffer));
}

export function fuzzCodec(o: FuzzOptions): void {
  const tick = counter(o);
  const mutated = fc.property(validRequest, mutation, cuts, (req, m, sizes) => {
    tick();
    const frame = Buffer.concat(encodeRequest(req));
    const input = mutate(frame, m);
    const decoded = checkDecoders(input);
    if (m.kind === 'none' && (decoded.kind !== 'ok' || !sameRequest(req, decoded.value))) throw new Error('a valid frame did not round-trip');
    const changedLength = input.length !== frame.length && m.kind !== 'replay';
    if (changedLength && decoded.kind === 'ok') throw new Error(`a ${m.kind} frame of ${input.length} bytes was accepted`);
    const { frames, broken } = split(input, sizes);
    if (m.kind === 'replay' && (broken || frames.length !== m.times || frames.some((f) => !f.equals(frame)))) throw new Error('a replayed stream split differently');
    for (const f of frames) checkDecoders(f);
  });
  const random = fc.property(bytes(512), fc.boolean(), cuts, (raw, framed, sizes) => {
    tick();
    const input = framed ? Buffer.concat([prefix(requestMagic, raw.length), raw]) : raw;
    checkDecoders(input);
    checkDecoders(Buffer.concat([prefix(responseMagic, raw.length), raw]));
    const { frames } = split(input, sizes);
    for (const f of frames) checkDecoders(f);
  });
  const oversized = fc.property(fc.integer({ min: limits.dataFrameBytesMax + 1, max: 0xffffffff }), (body) => {
    tick();
    const splitter = new FrameSplitter(requestMagic, limits.dataFrameBytesMax);
    if (splitter.push(prefix(requestMagic, body)).kind !== 'error') throw new Error(`a body of ${body} bytes was not refused`);
    if (splitter.pendingBytes !== 0) throw new Error('a refused frame left bytes held');
  });
  const share = Math.max(1, Math.floor(o.iterations / 3));
  fc.assert(mutated, { ...runParameters(o), numRuns: o.iterations - 2 * share > 0 ? o.iterations - 2 * share : 1 });
  fc.assert(random, { ...runParameters(o), numRuns: share });
  fc.assert(oversized, { ...runParameters(o), numRuns: share });
}
