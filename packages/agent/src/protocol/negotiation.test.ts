import { describe, expect, it } from 'vitest';
import { BASE_ALLOCATION, InfoType, Opt, Rep, TransmissionFlag } from './constants.js';
import { ALLOCATION_CONTEXT_ID, Negotiation } from './negotiation.js';
import type { NegotiationConfig, OptionOutcome } from './negotiation.js';

const config: NegotiationConfig = {
  tlsAvailable: true,
  tlsRequired: false,
  readOnly: false,
  blockSizes: { minimumBytes: 1, preferredBytes: 4096, maximumBytes: 32 << 20 },
};
const volumes = [{ name: 'a', sizeBytes: 1 << 20 }, { name: 'b', sizeBytes: 2 << 20 }];

/** Option replies as [option, type, payload] for readable expectations. */
function parse(outcome: OptionOutcome): { option: number; type: number; data: Buffer }[] {
  if (outcome.kind === 'open' || outcome.kind === 'close') return [];
  return outcome.replies.map((r) => ({ option: r.readUInt32BE(8), type: r.readUInt32BE(12), data: r.subarray(20, 20 + r.readUInt32BE(16)) }));
}

function exportData(name: string, infos: number[] = []): Buffer {
  const b = Buffer.alloc(6 + name.length + 2 * infos.length);
  b.writeUInt32BE(name.length, 0);
  b.write(name, 4);
  b.writeUInt16BE(infos.length, 4 + name.length);
  infos.forEach((t, i) => b.writeUInt16BE(t, 6 + name.length + 2 * i));
  return b;
}

function metaData(name: string, queries: string[]): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  parts.push(u32(name.length), Buffer.from(name), u32(queries.length));
  for (const q of queries) parts.push(u32(q.length), Buffer.from(q));
  return Buffer.concat(parts);
}

const fresh = (c: Partial<NegotiationConfig> = {}) => new Negotiation({ ...config, ...c }, { fixedNewstyle: true, noZeroes: false });

describe('Negotiation', () => {
  it('answers an unknown option with ERR_UNSUP and carries on', () => {
    const n = fresh();
    expect(parse(n.handle(1234, Buffer.from('xyz'), volumes))).toEqual([{ option: 1234, type: Rep.ErrUnsup, data: expect.any(Buffer) }]);
    expect(n.handle(Opt.Go, exportData('a'), volumes)).toMatchObject({ kind: 'open', volume: 'a' });
  });

  it('lists one NBD_REP_SERVER per volume, then ACK', () => {
    const replies = parse(fresh().handle(Opt.List, Buffer.alloc(0), volumes));
    expect(replies.map((r) => r.type)).toEqual([Rep.Server, Rep.Server, Rep.Ack]);
    expect(replies[1]!.data.readUInt32BE(0)).toBe(1);
    expect(replies[1]!.data.subarray(4).toString()).toBe('b');
  });

  it('describes an export with NBD_OPT_INFO: size, flags, block sizes, and the name when asked', () => {
    const replies = parse(fresh().handle(Opt.Info, exportData('b', [InfoType.Name]), volumes));
    expect(replies.map((r) => [r.type, r.type === Rep.Info ? r.data.readUInt16BE(0) : -1])).toEqual([
      [Rep.Info, InfoType.Export], [Rep.Info, InfoType.BlockSize], [Rep.Info, InfoType.Name], [Rep.Ack, -1],
    ]);
    const exp = replies[0]!.data;
    expect(exp.readBigUInt64BE(2)).toBe(2n << 20n);
    const flags = exp.readUInt16BE(10);
    expect(flags & TransmissionFlag.CanMultiConn).not.toBe(0);
    expect(flags & TransmissionFlag.SendDf).toBe(0); // no structured replies negotiated
    expect(replies[2]!.data.subarray(2).toString()).toBe('b');
  });

  it('picks the only volume as the default export and refuses a default among several', () => {
    expect(fresh().handle(Opt.Go, exportData(''), [volumes[0]!])).toMatchObject({ kind: 'open', volume: 'a' });
    expect(parse(fresh().handle(Opt.Go, exportData(''), volumes))[0]!.type).toBe(Rep.ErrUnknown);
  });

  it('rejects truncated or overlong option data with ERR_INVALID', () => {
    const n = fresh();
    const good = exportData('a', [1, 2]);
    for (let cut = 0; cut < good.length; cut++) expect(parse(n.handle(Opt.Go, good.subarray(0, cut), volumes))[0]!.type).toBe(Rep.ErrInvalid);
    expect(parse(n.handle(Opt.Go, Buffer.concat([good, Buffer.from([0])]), volumes))[0]!.type).toBe(Rep.ErrInvalid);
    expect(parse(n.handle(Opt.StructuredReply, Buffer.from([1]), volumes))[0]!.type).toBe(Rep.ErrInvalid);
  });

  it('selects base:allocation only after structured replies, and only for the export it names', () => {
    const n = fresh();
    expect(parse(n.handle(Opt.SetMetaContext, metaData('a', [BASE_ALLOCATION]), volumes))[0]!.type).toBe(Rep.ErrInvalid);
    n.handle(Opt.StructuredReply, Buffer.alloc(0), volumes);
    const set = parse(n.handle(Opt.SetMetaContext, metaData('a', ['x-foo:bar', BASE_ALLOCATION]), volumes));
    expect(set.map((r) => r.type)).toEqual([Rep.MetaContext, Rep.Ack]);
    expect(set[0]!.data.readUInt32BE(0)).toBe(ALLOCATION_CONTEXT_ID);
    const forA = n.completeOpen({ option: Opt.Go, infoRequests: [] }, volumes[0]!, false).context;
    expect(forA.allocationContextId).toBe(ALLOCATION_CONTEXT_ID);
    expect(forA.transmissionFlags & TransmissionFlag.SendDf).not.toBe(0);
    const forB = n.completeOpen({ option: Opt.Go, infoRequests: [] }, volumes[1]!, false).context;
    expect(forB.allocationContextId).toBeUndefined();
  });

  it('with TLS required refuses everything but STARTTLS and ABORT until TLS is up, then resets state', () => {
    const n = fresh({ tlsRequired: true });
    expect(parse(n.handle(Opt.List, Buffer.alloc(0), volumes))[0]!.type).toBe(Rep.ErrTlsReqd);
    expect(parse(n.handle(Opt.StructuredReply, Buffer.alloc(0), volumes))[0]!.type).toBe(Rep.ErrTlsReqd);
    expect(n.handle(Opt.ExportName, Buffer.from('a'), volumes).kind).toBe('close');
    expect(n.handle(Opt.StartTls, Buffer.alloc(0), volumes).kind).toBe('starttls');
    expect(parse(n.handle(Opt.StartTls, Buffer.alloc(0), volumes))[0]!.type).toBe(Rep.ErrInvalid);
    expect(parse(n.handle(Opt.List, Buffer.alloc(0), volumes)).map((r) => r.type)).toEqual([Rep.Server, Rep.Server, Rep.Ack]);
  });

  it('forgets structured replies and contexts negotiated before STARTTLS', () => {
    const n = fresh();
    n.handle(Opt.StructuredReply, Buffer.alloc(0), volumes);
    n.handle(Opt.SetMetaContext, metaData('a', [BASE_ALLOCATION]), volumes);
    n.handle(Opt.StartTls, Buffer.alloc(0), volumes);
    const ctx = n.completeOpen({ option: Opt.Go, infoRequests: [] }, volumes[0]!, false).context;
    expect(ctx.structuredReplies).toBe(false);
    expect(ctx.allocationContextId).toBeUndefined();
  });

  it('advertises read-only exports without write features', () => {
    const n = fresh({ readOnly: true });
    const flags = n.completeOpen({ option: Opt.Go, infoRequests: [] }, volumes[0]!, true).context.transmissionFlags;
    expect(flags & TransmissionFlag.ReadOnly).not.toBe(0);
    expect(flags & (TransmissionFlag.SendTrim | TransmissionFlag.SendWriteZeroes | TransmissionFlag.SendFua)).toBe(0);
  });

  it('ends NBD_OPT_EXPORT_NAME with size, flags and 124 zero bytes unless NO_ZEROES', () => {
    const n = new Negotiation(config, { fixedNewstyle: true, noZeroes: false });
    expect(n.completeOpen({ option: Opt.ExportName, infoRequests: [] }, volumes[0]!, false).replies[0]!.length).toBe(134);
    const z = new Negotiation(config, { fixedNewstyle: true, noZeroes: true });
    expect(z.completeOpen({ option: Opt.ExportName, infoRequests: [] }, volumes[0]!, false).replies[0]!.length).toBe(10);
    expect(z.failOpen({ option: Opt.ExportName, infoRequests: [] }, Rep.ErrPolicy, 'lease').kind).toBe('close');
  });

  it('serves a client without fixed newstyle through NBD_OPT_EXPORT_NAME alone', () => {
    const plain = new Negotiation(config, { fixedNewstyle: false, noZeroes: false });
    const open = plain.handle(Opt.ExportName, Buffer.from('b'), volumes);
    expect(open).toEqual({ kind: 'open', volume: 'b', request: { option: Opt.ExportName, infoRequests: [] } });
    const done = plain.completeOpen({ option: Opt.ExportName, infoRequests: [] }, volumes[1]!, false);
    expect(done.replies[0]!.length).toBe(134);
    expect(done.replies[0]!.readBigUInt64BE(0)).toBe(2n << 20n);
    expect(done.context.structuredReplies).toBe(false);
    expect(done.context.transmissionFlags & TransmissionFlag.SendDf).toBe(0);
    const noZeroes = new Negotiation(config, { fixedNewstyle: false, noZeroes: true });
    expect(noZeroes.completeOpen({ option: Opt.ExportName, infoRequests: [] }, volumes[0]!, false).replies[0]!.length).toBe(10);
  });

  it('ends the session of a client without fixed newstyle on any other option, since it cannot read a reply', () => {
    for (const option of [Opt.List, Opt.Go, Opt.Info, Opt.StructuredReply, Opt.StartTls, Opt.Abort, 1234]) {
      const plain = new Negotiation(config, { fixedNewstyle: false, noZeroes: true });
      expect(plain.handle(option, Buffer.alloc(0), volumes).kind, `option ${option}`).toBe('close');
    }
    const unknown = new Negotiation(config, { fixedNewstyle: false, noZeroes: true });
    expect(unknown.handle(Opt.ExportName, Buffer.from('nope'), volumes).kind).toBe('close');
  });

  it('refuses a client without fixed newstyle when TLS is required: it cannot start TLS', () => {
    const plain = new Negotiation({ ...config, tlsRequired: true }, { fixedNewstyle: false, noZeroes: false });
    expect(plain.handle(Opt.ExportName, Buffer.from('a'), volumes).kind).toBe('close');
  });

  it('drops a client that never stops sending options', () => {
    const n = fresh();
    let last: OptionOutcome = { kind: 'reply', replies: [] };
    for (let i = 0; i < 2000 && last.kind !== 'close'; i++) last = n.handle(99, Buffer.alloc(0), volumes);
    expect(last.kind).toBe('close');
  });
});
