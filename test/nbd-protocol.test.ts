/**
 * The agent's protocol behaviour at the byte level, driven by a raw client (test/nbd-raw-client.ts):
 * option haggling edge cases, error codes, structured replies and DF, out-of-order replies, the
 * in-flight budget, multi-conn sharing, writer leases and metrics.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, MiB } from '@basalt/stdx';
import type { BlockDevice, VolumeProvider } from '@basalt/agent';
import { Cmd, CmdFlag, Errno, InfoType, Opt, Rep, TransmissionFlag } from '@basalt/agent/protocol';
import { serveMetrics, TransportSecurity } from '@basalt/wire';
import { FileVolumeStore, httpGet, startAgent, tempDir, waitFor } from './nbd-support.js';
import type { RunningAgent } from './nbd-support.js';
import { RawNbd, exportData, metaContextData } from './nbd-raw-client.js';

const size = 8 * MiB;

/** Wraps a provider so a test can hold chosen operations and count calls. */
class Gate {
  held: { op: string; offset: number; release: () => void }[] = [];
  calls: string[] = [];
  opens = 0;
  holdReadsAt: number | undefined;
  holdWrites = false;
  failReads = false;
  holdClose = false;
  /** The buffers reads returned, and those the agent gave back (recycle), in order. */
  readBuffers: Buffer[] = [];
  recycled: Buffer[] = [];

  wrap(inner: VolumeProvider): VolumeProvider {
    return {
      list: () => inner.list(),
      open: async (name, options) => {
        this.opens++;
        this.calls.push(`open ${name}`);
        return this.device(await inner.open(name, options));
      },
    };
  }

  private hold(op: string, offset: number): Promise<void> {
    return new Promise((release) => this.held.push({ op, offset, release }));
  }

  private device(d: BlockDevice): BlockDevice {
    return {
      sizeBytes: d.sizeBytes,
      read: async (offset, length) => {
        this.calls.push(`read ${offset}`);
        if (this.failReads) throw new BasaltError(ErrorCode.Io, 'disk on fire');
        if (offset === this.holdReadsAt) await this.hold('read', offset);
        const data = await d.read(offset, length);
        this.readBuffers.push(data);
        return data;
      },
      recycle: (data) => void this.recycled.push(data),
      write: async (offset, data, o) => {
        this.calls.push(`write ${offset}`);
        if (this.holdWrites) await this.hold('write', offset);
        return d.write(offset, data, o);
      },
      flush: () => (this.calls.push('flush'), d.flush()),
      trim: (o, l) => d.trim(o, l),
      writeZeroes: (o, l, x) => d.writeZeroes(o, l, x),
      allocation: (o, l) => d.allocation(o, l),
      close: async () => {
        this.calls.push('close start');
        if (this.holdClose) await this.hold('close', 0);
        await d.close();
        this.calls.push('close end');
      },
    };
  }
}

describe('NBD protocol behaviour', () => {
  const tmp = tempDir('nbd-protocol');
  const store = new FileVolumeStore(tmp.dir);
  const gate = new Gate();
  let agent: RunningAgent;
  const clients: RawNbd[] = [];
  const client = async (): Promise<RawNbd> => {
    const c = await RawNbd.connect(agent.port);
    clients.push(c);
    await c.handshake();
    return c;
  };

  beforeAll(async () => {
    for (const v of ['vol', 'other', 'sparse']) store.create(v, size);
    agent = await startAgent({ provider: gate.wrap(store.provider()) });
  });
  afterEach(() => {
    for (const h of gate.held.splice(0)) h.release();
    gate.holdReadsAt = undefined;
    gate.holdWrites = false;
    gate.failReads = false;
    gate.holdClose = false;
    for (const c of clients.splice(0)) c.destroy();
  });
  afterAll(async () => {
    await agent.stop();
    tmp.cleanup();
  });

  it('answers unknown options with ERR_UNSUP and keeps haggling', async () => {
    const c = await client();
    for (const opt of [0, 4, 12, 99, 0x7fffffff]) {
      const r = await c.option(opt, Buffer.from('junk'));
      expect(r).toHaveLength(1);
      expect(r[0]!.type).toBe(Rep.ErrUnsup);
      expect(r[0]!.option).toBe(opt);
    }
    const { size: s } = await c.go('vol');
    expect(s).toBe(BigInt(size));
  });

  it('refuses malformed and out-of-order options with ERR_INVALID, unknown exports with ERR_UNKNOWN', async () => {
    const c = await client();
    expect((await c.option(Opt.List, Buffer.from('x')))[0]!.type).toBe(Rep.ErrInvalid);
    expect((await c.option(Opt.Go, Buffer.from([0, 0, 0, 9, 1])))[0]!.type).toBe(Rep.ErrInvalid);
    expect((await c.option(Opt.SetMetaContext, metaContextData('vol', ['base:allocation'])))[0]!.type).toBe(Rep.ErrInvalid);
    expect((await c.option(Opt.StartTls))[0]!.type).toBe(Rep.ErrUnsup); // no certificate configured
    const unknown = await c.option(Opt.Info, exportData('nope'));
    expect(unknown[0]!.type).toBe(Rep.ErrUnknown);
    expect(unknown[0]!.data.toString()).toContain('no volume named "nope"');
    expect((await c.option(Opt.Go, exportData('')))[0]!.type).toBe(Rep.ErrUnknown); // no default with 3 volumes
  });

  it('drops a client whose option is larger than the limit, or who sends more than an option before a reply', async () => {
    const big = await client();
    big.sendOption(Opt.Info, Buffer.alloc(100 * 1024));
    expect(await big.closedWithin(10_000)).toBe(true);
    const flood = await client(); // a GO, then 100 KiB more before waiting for its reply
    flood.sendOption(Opt.Go, exportData('vol'));
    flood.write(Buffer.alloc(100 * 1024, 0x41));
    expect(await flood.closedWithin(10_000)).toBe(true);
    const fine = await client();
    expect((await fine.go('vol')).size).toBe(BigInt(size));
  });

  it('lists base:allocation, sends INFO with block sizes and name, and ACKs ABORT', async () => {
    const c = await client();
    await c.option(Opt.StructuredReply);
    const list = await c.option(Opt.ListMetaContext, metaContextData('vol', []));
    expect(list.map((r) => r.type)).toEqual([Rep.MetaContext, Rep.Ack]);
    expect(list[0]!.data.subarray(4).toString()).toBe('base:allocation');
    const none = await c.option(Opt.ListMetaContext, metaContextData('vol', ['qemu:dirty-bitmap:x']));
    expect(none.map((r) => r.type)).toEqual([Rep.Ack]);
    const info = await c.option(Opt.Info, exportData('vol', [InfoType.Name, InfoType.BlockSize]));
    const types = info.filter((r) => r.type === Rep.Info).map((r) => r.data.readUInt16BE(0)).sort();
    expect(types).toEqual([InfoType.Export, InfoType.Name, InfoType.BlockSize]);
    const bs = info.find((r) => r.type === Rep.Info && r.data.readUInt16BE(0) === InfoType.BlockSize)!.data;
    expect([bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)]).toEqual([1, 4096, 32 * MiB]);
    expect((await c.option(Opt.Abort))[0]!.type).toBe(Rep.Ack);
    expect(await c.closedWithin(10_000)).toBe(true);
  });

  it('serves old clients through NBD_OPT_EXPORT_NAME and drops them for an unknown name', async () => {
    const c = await client();
    c.sendOption(Opt.ExportName, Buffer.from('vol'));
    const reply = await c.read(10); // NO_ZEROES was negotiated: no 124 zero bytes
    expect(reply.readBigUInt64BE(0)).toBe(BigInt(size));
    expect(reply.readUInt16BE(8) & TransmissionFlag.SendDf).toBe(0); // no structured replies, so no DF
    // Overlapping requests in flight together may run in any order (NBD spec): read after the write's reply.
    c.request(Cmd.Write, 0, 1n, 0n, 3, Buffer.from('abc'));
    expect((await c.reply()).handle).toBe(1n);
    c.request(Cmd.Read, 0, 2n, 0n, 3);
    const read = await c.reply();
    expect(read.handle).toBe(2n);
    expect(read.data.toString()).toBe('abc');
    const d = await client();
    d.sendOption(Opt.ExportName, Buffer.from('nope'));
    expect(await d.closedWithin(10_000)).toBe(true);
  });

  it('answers bad requests with the right error and keeps the connection', async () => {
    const c = await client();
    await c.go('vol');
    const cases: [number, number, bigint, number, number][] = [
      [Cmd.Read, 0, BigInt(size), 1, Errno.EINVAL],
      [Cmd.Read, 0, 2n ** 64n - 1n, 10, Errno.EINVAL],
      [Cmd.Write, 0, BigInt(size - 2), 4, Errno.ENOSPC],
      [Cmd.Trim, 0, BigInt(size), 4096, Errno.EINVAL],
      [Cmd.Read, CmdFlag.NoHole, 0n, 10, Errno.EINVAL],
      [Cmd.Flush, 0, 4n, 0, Errno.EINVAL],
      [42, 0, 0n, 0, Errno.EINVAL],
      [Cmd.Read, 0, 0n, 33 * MiB, Errno.EINVAL],
      [Cmd.WriteZeroes, CmdFlag.NoHole | CmdFlag.FastZero, 0n, 4096, Errno.ENOTSUP],
    ];
    let handle = 100n;
    for (const [type, flags, offset, length, errno] of cases) {
      c.request(type, flags, ++handle, offset, length, type === Cmd.Write ? Buffer.alloc(length, 7) : undefined);
      const r = await c.reply();
      expect(r.handle).toBe(handle);
      expect(r.error, `cmd ${type} flags ${flags} offset ${offset}`).toBe(errno);
    }
    gate.failReads = true;
    c.request(Cmd.Read, 0, 7n, 0n, 512);
    const eio = await c.reply();
    expect(eio.error).toBe(Errno.EIO);
    expect(eio.chunks[0]!.data.subarray(6).toString()).toContain('disk on fire');
    gate.failReads = false;
    c.request(Cmd.Read, 0, 8n, 0n, 512);
    expect((await c.reply()).error).toBe(0);
    // The out-of-range write never reached the file.
    expect((await store.provider().list()).find((v) => v.name === 'vol')!.sizeBytes).toBe(size);
  });

  it('refuses BLOCK_STATUS without a negotiated context', async () => {
    const c = await client();
    await c.go('vol', { meta: false });
    c.request(Cmd.BlockStatus, 0, 1n, 0n, 4096);
    expect((await c.reply()).error).toBe(Errno.EINVAL);
  });

  it('replies out of order: a read stuck in the device does not hold back later requests', async () => {
    const c = await client();
    await c.go('vol');
    gate.holdReadsAt = 1 * MiB;
    c.request(Cmd.Read, 0, 1n, BigInt(MiB), 4096);
    c.request(Cmd.Write, 0, 2n, 0n, 4, Buffer.from('late'));
    c.request(Cmd.Read, 0, 3n, 0n, 4);
    const first = await c.reply();
    const second = await c.reply();
    expect([first.handle, second.handle].sort()).toEqual([2n, 3n]);
    expect(gate.held).toHaveLength(1);
    gate.held[0]!.release();
    expect((await c.reply()).handle).toBe(1n);
  });

  it('gives each read buffer back to the device once its reply is sent, and nothing else', async () => {
    const c = await client();
    await c.go('sparse');
    c.request(Cmd.Write, 0, 1n, BigInt(MiB), 4096, Buffer.alloc(4096, 7));
    await c.reply();
    gate.readBuffers = [];
    gate.recycled = [];
    c.request(Cmd.Read, CmdFlag.Df, 2n, 0n, 2 * MiB); // one data chunk
    expect((await c.reply()).data.subarray(MiB, MiB + 4096).every((b) => b === 7)).toBe(true);
    c.request(Cmd.Read, 0, 3n, 0n, 2 * MiB); // hole, data, hole: one read
    expect((await c.reply()).chunks.map((x) => x.type)).toEqual([2, 1, 2]);
    gate.failReads = true;
    c.request(Cmd.Read, CmdFlag.Df, 4n, 0n, 4096);
    expect((await c.reply()).error).not.toBe(0);
    await waitFor(() => gate.recycled.length === 2);
    expect(gate.readBuffers).toHaveLength(2);
    expect(gate.recycled[0]).toBe(gate.readBuffers[0]);
    expect(gate.recycled[1]).toBe(gate.readBuffers[1]);
  });

  it('stops reading a connection once its in-flight bytes reach the budget', async () => {
    const c = await client();
    await c.go('vol');
    gate.holdWrites = true;
    gate.calls = [];
    const big = Buffer.alloc(8 * MiB - 4096, 1);
    // 9 writes of ~8 MiB: the 64 MiB budget admits 8 while they are held in the device.
    for (let i = 0; i < 9; i++) c.request(Cmd.Write, 0, BigInt(i), 0n, big.length, big);
    await waitFor(() => gate.held.length === 8);
    await new Promise((r) => setTimeout(r, 300));
    expect(gate.held).toHaveLength(8);
    gate.held.shift()!.release();
    await waitFor(() => gate.held.length === 8 && gate.calls.filter((x) => x.startsWith('write')).length === 9);
    for (const h of gate.held.splice(0)) h.release();
    for (let i = 0; i < 9; i++) expect((await c.reply()).error).toBe(0);
  });

  it('structured READ sends holes as hole chunks, and one data chunk with DF', async () => {
    const c = await client();
    await c.go('sparse');
    c.request(Cmd.Write, 0, 1n, BigInt(MiB), 4096, Buffer.alloc(4096, 9));
    await c.reply();
    c.request(Cmd.Read, 0, 2n, 0n, 2 * MiB);
    const r = await c.reply();
    expect(r.chunks.map((x) => x.type)).toEqual([2, 1, 2]); // hole, data, hole
    expect(r.data.length).toBe(2 * MiB);
    expect(r.data.subarray(MiB, MiB + 4096).every((b) => b === 9)).toBe(true);
    expect(r.data.subarray(0, MiB).every((b) => b === 0)).toBe(true);
    c.request(Cmd.Read, CmdFlag.Df, 3n, 0n, 2 * MiB);
    const df = await c.reply();
    expect(df.chunks.map((x) => x.type)).toEqual([1]);
    expect(df.data.equals(r.data)).toBe(true);
    c.request(Cmd.BlockStatus, CmdFlag.ReqOne, 4n, 0n, 2 * MiB);
    const bs = (await c.reply()).chunks[0]!.data;
    expect(bs.length).toBe(12); // context id + one descriptor
    expect([bs.readUInt32BE(4), bs.readUInt32BE(8)]).toEqual([MiB, 3]);
  });

  it('shares one device between connections to a volume, so a flush on one covers writes on another', async () => {
    const before = gate.opens;
    const a = await client();
    const b = await client();
    await a.go('other');
    await b.go('other');
    expect(gate.opens - before).toBeLessThanOrEqual(1);
    gate.calls = [];
    a.request(Cmd.Write, 0, 1n, 0n, 5, Buffer.from('multi'));
    expect((await a.reply()).error).toBe(0);
    b.request(Cmd.Flush, 0, 2n, 0n, 0);
    expect((await b.reply()).error).toBe(0);
    expect(gate.calls).toEqual(['write 0', 'flush']);
    b.request(Cmd.Read, 0, 3n, 0n, 5);
    expect((await b.reply()).data.toString()).toBe('multi');
  });

  it('does not reopen a volume until its previous device has closed (a quick re-attach keeps its lease)', async () => {
    await waitFor(() => agent.server.connectionCount === 0);
    const a = await client();
    await a.go('other');
    gate.calls = [];
    gate.holdClose = true;
    a.destroy();
    await waitFor(() => gate.held.some((h) => h.op === 'close'));
    const b = await client();
    const opened = b.go('other');
    await new Promise((r) => setTimeout(r, 200));
    expect(gate.calls).toEqual(['close start']);
    gate.held.find((h) => h.op === 'close')!.release();
    await opened;
    expect(gate.calls).toEqual(['close start', 'close end', 'open other']);
  });

  it('exports per-volume and per-connection metrics over HTTP and drops a closed connection\'s series', async () => {
    const { server, address } = await serveMetrics(agent.server.metrics.registry, { host: '127.0.0.1', port: 0, security: TransportSecurity.insecure(), tls: false });
    try {
      const c = await client();
      await c.go('vol');
      c.request(Cmd.Write, 0, 1n, 0n, 4096, Buffer.alloc(4096));
      await c.reply();
      c.request(Cmd.Read, 0, 2n, BigInt(size), 1);
      await c.reply();
      const text = await httpGet(`http://127.0.0.1:${address.port}/metrics`);
      expect(text).toMatch(/basalt_nbd_ops_total\{volume="vol",op="write"\} \d+/);
      expect(text).toMatch(/basalt_nbd_bytes_total\{volume="vol",op="write"\} \d+/);
      expect(text).toMatch(/basalt_nbd_errors_total\{volume="vol",op="read",errno="22"\} \d+/);
      expect(text).toMatch(/basalt_nbd_op_duration_seconds_bucket\{le="[^"]+",volume="vol",op="write"\}/);
      const conn = /basalt_nbd_connection_ops_total\{connection="(\d+)",volume="vol",op="write"\} 1/.exec(text);
      expect(conn).not.toBeNull();
      c.destroy();
      await waitFor(async () => !(await httpGet(`http://127.0.0.1:${address.port}/metrics`)).includes(`connection="${conn![1]}"`));
    } finally {
      server.close();
    }
  });
});

describe('NBD exports the agent identity may not open', () => {
  const tmp = tempDir('nbd-tenant');
  const store = new FileVolumeStore(tmp.dir);
  afterAll(() => tmp.cleanup());

  it('refuses the export with NBD_REP_ERR_POLICY and says why, and serves the others on the same agent', async () => {
    store.create('mine', size);
    store.create('theirs', size);
    const inner = store.provider();
    // metad's answer to an agent of another tenant (packages/meta/src/server/meta-api.test.ts checks that metad gives it).
    const agent = await startAgent({
      provider: {
        list: () => inner.list(),
        open: (name, options) => (name === 'theirs' ? Promise.reject(new BasaltError(ErrorCode.PermissionDenied, 'volume theirs belongs to another tenant than a')) : inner.open(name, options)),
      },
    });
    try {
      const c = await RawNbd.connect(agent.port);
      await c.handshake();
      const r = await c.option(Opt.Go, exportData('theirs'));
      expect(r[r.length - 1]!.type).toBe(Rep.ErrPolicy);
      expect(r[r.length - 1]!.data.toString()).toContain('may not open volume theirs (BASALT_PERMISSION_DENIED');
      expect((await c.go('mine')).size).toBe(BigInt(size));
      c.destroy();
    } finally {
      await agent.stop();
    }
  });
});

describe('NBD writer leases', () => {
  const tmp = tempDir('nbd-lease');
  const store = new FileVolumeStore(tmp.dir);
  const agents: RunningAgent[] = [];
  afterAll(async () => {
    for (const a of agents) await a.stop();
    tmp.cleanup();
  });

  it('refuses a second writer, admits read-only attaches, and fences the old writer on takeover', async () => {
    store.create('leased', size);
    const first = await startAgent({ provider: store.provider() });
    const second = await startAgent({ provider: store.provider() });
    const reader = await startAgent({ provider: store.provider(), readOnly: true });
    const taker = await startAgent({ provider: store.provider(), forceTakeover: true });
    agents.push(first, second, reader, taker);
    const w = await RawNbd.connect(first.port);
    await w.handshake();
    await w.go('leased');
    w.request(Cmd.Write, 0, 1n, 0n, 3, Buffer.from('one'));
    expect((await w.reply()).error).toBe(0);

    const refused = await RawNbd.connect(second.port);
    await refused.handshake();
    await refused.option(Opt.StructuredReply);
    const r = await refused.option(Opt.Go, exportData('leased'));
    expect(r[r.length - 1]!.type).toBe(Rep.ErrPolicy);
    expect(r[r.length - 1]!.data.toString()).toContain('writer lease is held');

    const ro = await RawNbd.connect(reader.port);
    await ro.handshake();
    const { flags } = await ro.go('leased');
    expect(flags & TransmissionFlag.ReadOnly).not.toBe(0);
    ro.request(Cmd.Write, 0, 1n, 0n, 1, Buffer.from('x'));
    expect((await ro.reply()).error).toBe(Errno.EPERM);
    ro.request(Cmd.Read, 0, 2n, 0n, 3);
    expect((await ro.reply()).data.toString()).toBe('one');

    const t = await RawNbd.connect(taker.port);
    await t.handshake();
    await t.go('leased');
    w.request(Cmd.Write, 0, 2n, 0n, 3, Buffer.from('old'));
    expect((await w.reply()).error).toBe(Errno.EPERM);
    for (const c of [w, refused, ro, t]) c.destroy();
  });
});
