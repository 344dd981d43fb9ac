import fc from 'fast-check';
import { MiB, limits } from '@basalt/stdx';
import {
  BASE_ALLOCATION, Cmd, CmdFlag, InfoType, Negotiation, OPTION_REPLY_MAGIC, Opt, REQUEST_HEADER_BYTES, REQUEST_MAGIC,
  checkRequest, decodeClientFlags, decodeRequest, encodeRequest, type OptionOutcome, type TransmissionContext, type VolumeSummary,
} from '@basalt/agent/protocol';
import { bytes, counter, mutate, mutation, runParameters, type FuzzOptions } from './surface.js';

/**
 * The NBD negotiation state machine and transmission parser (pure), fed option sequences in any
 * order (valid encodings, mutated ones, random bytes, replays of earlier options) and then request
 * headers (valid, mutated, random). Properties: nothing throws; every reply is a well-formed
 * option reply for the option asked; an open names a served volume; after close or abort nothing
 * more is read; an accepted request stays inside the volume, within the block size limit, carries
 * only flags its command allows, and writes nothing on a read-only export. The agent server over
 * a real socket is fuzzed by test/nbd-fuzz.test.ts.
 */
const volumes: VolumeSummary[] = [{ name: 'vol-a', sizeBytes: 4 * MiB }, { name: 'vol-b', sizeBytes: 4 * MiB + 512 }];
const requestBytesMax = limits.nbdRequestBytesMax;
const blockSizes = { minimumBytes: 1, preferredBytes: 4096, maximumBytes: requestBytesMax };

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff, 0);
  return b;
}

const exportName = fc.constantFrom('', 'vol-a', 'vol-b', 'nope', 'x'.repeat(5000));

const exportRequest = fc
  .record({ name: exportName, infos: fc.array(fc.constantFrom(InfoType.Export, InfoType.Name, InfoType.Description, InfoType.BlockSize, 77), { maxLength: 5 }) })
  .map(({ name, infos }) => Buffer.concat([u32(Buffer.byteLength(name)), Buffer.from(name), u16(infos.length), ...infos.map(u16)]));

const metaContextRequest = fc
  .record({ name: exportName, queries: fc.array(fc.constantFrom(BASE_ALLOCATION, 'base:', 'qemu:dirty', ''), { maxLength: 4 }) })
  .map(({ name, queries }) => Buffer.concat([u32(Buffer.byteLength(name)), Buffer.from(name), u32(queries.length), ...queries.flatMap((q) => [u32(Buffer.byteLength(q)), Buffer.from(q)])]));

const optionData = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  exportRequest,
  metaContextRequest,
  exportName.map((n) => Buffer.from(n)),
  bytes(64),
  fc.tuple(fc.oneof(exportRequest, metaContextRequest), mutation).map(([d, m]) => mutate(d, m)),
);

const optionCode = fc.oneof(fc.constantFrom(...Object.values(Opt)), fc.nat({ max: 0xffffffff }));

/** replayOf: send an earlier option of the session again instead. */
const option = fc.record({ option: optionCode, data: optionData, replayOf: fc.option(fc.nat(), { nil: undefined }) });

const session = fc.record({
  clientFlags: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.nat({ max: 0xffffffff })),
  tlsAvailable: fc.boolean(),
  tlsRequired: fc.boolean(),
  readOnly: fc.boolean(),
  options: fc.array(option, { maxLength: 24 }),
});
type Session = typeof session extends fc.Arbitrary<infer T> ? T : never;

/** Offsets and lengths are either anything a u64/u32 holds or near the volume's end. */
const header = fc.record({
  flags: fc.nat({ max: 0xffff }),
  type: fc.oneof(fc.constantFrom(...Object.values(Cmd)), fc.nat({ max: 0xffff })),
  offset: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 5n * BigInt(MiB) })),
  length: fc.oneof(fc.nat({ max: 0xffffffff }), fc.nat({ max: 2 * MiB })),
});

const requestBytes = fc.oneof(
  header.map((h) => encodeRequest({ ...h, handle: Buffer.alloc(8, 7) })),
  fc.tuple(header, mutation).map(([h, m]) => mutate(encodeRequest({ ...h, handle: Buffer.alloc(8, 7) }), m)),
  bytes(REQUEST_HEADER_BYTES),
);

function checkReplies(option: number, outcome: OptionOutcome): void {
  if (outcome.kind === 'close' || outcome.kind === 'open') return;
  if (outcome.replies.length === 0) throw new Error(`no reply to option ${option}`);
  for (const r of outcome.replies) {
    if (r.length < 20 || r.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) throw new Error('a malformed option reply');
    if (r.readUInt32BE(8) !== option >>> 0) throw new Error(`a reply to option ${r.readUInt32BE(8)} for option ${option}`);
    if (r.readUInt32BE(16) !== r.length - 20) throw new Error('an option reply with a wrong length');
  }
}

/** Runs one handshake; returns the transmission context if a volume was opened. */
function negotiate(s: Session): TransmissionContext | undefined {
  const client = decodeClientFlags(u32(s.clientFlags));
  if (client === undefined) return undefined;
  const n = new Negotiation({ tlsAvailable: s.tlsAvailable, tlsRequired: s.tlsRequired, readOnly: s.readOnly, blockSizes }, client);
  for (const [i, o] of s.options.entries()) {
    const sent = o.replayOf !== undefined && i > 0 ? s.options[o.replayOf % i]! : o;
    const outcome = n.handle(sent.option, sent.data, volumes);
    checkReplies(sent.option, outcome);
    if (outcome.kind === 'close' || outcome.kind === 'abort' || outcome.kind === 'starttls') return undefined;
    if (outcome.kind === 'open') {
      const volume = volumes.find((v) => v.name === outcome.volume);
      if (volume === undefined) throw new Error(`opened an unknown volume ${outcome.volume}`);
      if (s.tlsRequired) throw new Error('opened a volume without TLS on a server that requires it');
      return n.completeOpen(outcome.request, volume, s.readOnly).context;
    }
  }
  return undefined;
}

const writes = new Set<number>([Cmd.Write, Cmd.Trim, Cmd.WriteZeroes]);

function checkTransmission(ctx: TransmissionContext, stream: Buffer[]): void {
  for (const b of stream) {
    if (b.length !== REQUEST_HEADER_BYTES) continue; // the server reads exactly 28 bytes; a short read waits
    const req = decodeRequest(b);
    if (req === undefined) {
      if (b.readUInt32BE(0) === REQUEST_MAGIC) throw new Error('a request with the right magic was not decoded');
      return; // the stream is lost: the server closes the connection
    }
    if (checkRequest(req, ctx, requestBytesMax) !== undefined) continue;
    if (!Object.values(Cmd).includes(req.type as Cmd)) throw new Error(`accepted unknown command ${req.type}`);
    if (req.offset + req.length > ctx.sizeBytes) throw new Error('accepted a range beyond the volume');
    if ((req.type === Cmd.Read || req.type === Cmd.Write) && req.length > requestBytesMax) throw new Error('accepted an oversized request');
    if (ctx.readOnly && writes.has(req.type)) throw new Error('accepted a write on a read-only export');
    if (req.type === Cmd.BlockStatus && ctx.allocationContextId === undefined) throw new Error('accepted BLOCK_STATUS without a context');
    if ((req.flags & CmdFlag.Df) !== 0 && !ctx.structuredReplies) throw new Error('accepted DF without structured replies');
  }
}

export function fuzzNbd(o: FuzzOptions): void {
  const tick = counter(o);
  const fallback: TransmissionContext = { volume: 'vol-b', sizeBytes: volumes[1]!.sizeBytes, readOnly: false, transmissionFlags: 0, structuredReplies: false, allocationContextId: undefined };
  const property = fc.property(session, fc.array(requestBytes, { maxLength: 16 }), fc.boolean(), (s, stream, readOnly) => {
    tick();
    checkTransmission(negotiate(s) ?? { ...fallback, readOnly }, stream);
  });
  fc.assert(property, runParameters(o));
  const flood = new Negotiation({ tlsAvailable: false, tlsRequired: false, readOnly: false, blockSizes }, { fixedNewstyle: true, noZeroes: false });
  let last: OptionOutcome | undefined;
  for (let i = 0; i <= limits.nbdHandshakeOptionsMax; i++) last = flood.handle(Opt.List, Buffer.alloc(0), volumes);
  if (last?.kind !== 'close') throw new Error(`option ${limits.nbdHandshakeOptionsMax + 1} was answered, not refused`);
}
