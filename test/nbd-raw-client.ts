/**
 * A minimal NBD client speaking raw bytes, for tests that need to send what real clients never
 * do (bad flags, out-of-range requests, pipelined requests, garbage). Built from the agent's own
 * protocol encoders where they exist, plus the client-side encoders below.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import { ByteQueue, IHAVEOPT, Opt, Rep, ReplyFlag, SIMPLE_REPLY_MAGIC, STRUCTURED_REPLY_MAGIC, encodeRequest } from '@basalt/agent/protocol';

export type OptionReply = { option: number; type: number; data: Buffer };
export type Chunk = { flags: number; type: number; data: Buffer };
export type Reply = { handle: bigint; error: number; data: Buffer; chunks: Chunk[] };

export class RawNbd {
  private queue = new ByteQueue();
  private wake: (() => void) | undefined;
  private ended = false;
  /** handle -> READ length, for decoding simple replies (which do not carry a length). */
  private readLengths = new Map<bigint, number>();
  structured = false;

  private constructor(private socket: Socket) {
    this.listen(socket);
  }

  static connect(port: number): Promise<RawNbd> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(new RawNbd(s)));
      s.once('error', reject);
    });
  }

  private listen(s: Socket): void {
    s.on('data', (d: Buffer) => {
      this.queue.push(d);
      this.wake?.();
    });
    s.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    s.on('error', () => {});
  }

  /** Resolves true when the server closed the connection (within `ms`). */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.ended;
  }

  get isClosed(): boolean {
    return this.ended;
  }

  async read(n: number): Promise<Buffer> {
    while (this.queue.length < n) {
      if (this.ended) throw new Error(`connection closed while waiting for ${n} bytes`);
      await new Promise<void>((r) => (this.wake = r));
    }
    return this.queue.take(n);
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Greeting and client flags (fixed newstyle + no zeroes by default). */
  async handshake(clientFlags = 3): Promise<{ handshakeFlags: number }> {
    const g = await this.read(18);
    if (g.toString('latin1', 0, 8) !== 'NBDMAGIC' || g.readBigUInt64BE(8) !== IHAVEOPT) throw new Error('bad greeting');
    const f = Buffer.alloc(4);
    f.writeUInt32BE(clientFlags >>> 0);
    this.write(f);
    return { handshakeFlags: g.readUInt16BE(16) };
  }

  sendOption(option: number, data: Buffer = Buffer.alloc(0)): void {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(IHAVEOPT, 0);
    h.writeUInt32BE(option >>> 0, 8);
    h.writeUInt32BE(data.length, 12);
    this.write(Buffer.concat([h, data]));
  }

  /** Sends an option and reads replies up to the final one (ACK or an error). */
  async option(option: number, data?: Buffer): Promise<OptionReply[]> {
    this.sendOption(option, data);
    const replies: OptionReply[] = [];
    for (;;) {
      const h = await this.read(20);
      const r = { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: await this.read(h.readUInt32BE(16)) };
      replies.push(r);
      if (r.type === Rep.Ack || r.type >= 0x80000000) return replies;
    }
  }

  /** Structured replies, base:allocation (optional), then GO; returns the transmission flags. */
  async go(name: string, opts: { structured?: boolean; meta?: boolean; tls?: ConnectionOptions } = {}): Promise<{ size: bigint; flags: number }> {
    if (opts.tls !== undefined) await this.startTls(opts.tls);
    if (opts.structured ?? true) {
      const r = await this.option(Opt.StructuredReply);
      if (r[0]!.type !== Rep.Ack) throw new Error('no structured replies');
      this.structured = true;
    }
    if (opts.meta ?? true) await this.option(Opt.SetMetaContext, metaContextData(name, ['base:allocation']));
    const replies = await this.option(Opt.Go, exportData(name));
    const last = replies[replies.length - 1]!;
    if (last.type !== Rep.Ack) throw new Error(`GO refused: ${last.type.toString(16)} ${last.data.toString()}`);
    const info = replies.find((r) => r.type === Rep.Info && r.data.readUInt16BE(0) === 0)!;
    return { size: info.data.readBigUInt64BE(2), flags: info.data.readUInt16BE(10) };
  }

  async startTls(options: ConnectionOptions): Promise<void> {
    const r = await this.option(Opt.StartTls);
    if (r[0]!.type !== Rep.Ack) throw new Error(`STARTTLS refused: ${r[0]!.type.toString(16)}`);
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    const secure = await new Promise<Socket>((resolve, reject) => {
      const t = tlsConnect({ ...options, socket: this.socket }, () => resolve(t));
      t.once('error', reject);
    });
    this.socket = secure;
    this.listen(secure);
  }

  request(type: number, flags: number, handle: bigint, offset: bigint, length: number, payload?: Buffer): void {
    const h = Buffer.alloc(8);
    h.writeBigUInt64BE(handle);
    if (type === 0) this.readLengths.set(handle, length);
    const req = encodeRequest({ flags, type, handle: h, offset, length });
    this.write(payload === undefined ? req : Buffer.concat([req, payload]));
  }

  /** Reads one complete reply (all chunks of a structured one); data of READ is reassembled. */
  async reply(): Promise<Reply> {
    const magic = (await this.read(4)).readUInt32BE(0);
    if (magic === SIMPLE_REPLY_MAGIC) {
      const rest = await this.read(12);
      const handle = rest.readBigUInt64BE(4);
      const error = rest.readUInt32BE(0);
      const n = this.readLengths.get(handle);
      this.readLengths.delete(handle);
      return { handle, error, data: error === 0 && n !== undefined ? await this.read(n) : Buffer.alloc(0), chunks: [] };
    }
    if (magic !== STRUCTURED_REPLY_MAGIC) throw new Error(`bad reply magic ${magic.toString(16)}`);
    return this.structuredReply();
  }

  private async structuredReply(): Promise<Reply> {
    const chunks: Chunk[] = [];
    let handle = 0n;
    for (let first = true; ; first = false) {
      if (!first) {
        const magic = (await this.read(4)).readUInt32BE(0);
        if (magic !== STRUCTURED_REPLY_MAGIC) throw new Error('interleaved replies are not handled by this test client');
      }
      const h = await this.read(16);
      handle = h.readBigUInt64BE(4);
      const chunk = { flags: h.readUInt16BE(0), type: h.readUInt16BE(2), data: await this.read(h.readUInt32BE(12)) };
      chunks.push(chunk);
      if ((chunk.flags & ReplyFlag.Done) !== 0) break;
    }
    const err = chunks.find((c) => (c.type & 0x8000) !== 0);
    return { handle, error: err === undefined ? 0 : err.data.readUInt32BE(0), data: assemble(chunks), chunks };
  }
}

function assemble(chunks: Chunk[]): Buffer {
  const parts = chunks
    .filter((c) => c.type === 1 || c.type === 2)
    .map((c) => ({ offset: c.data.readBigUInt64BE(0), data: c.type === 1 ? c.data.subarray(8) : Buffer.alloc(c.data.readUInt32BE(8)) }))
    .sort((a, b) => (a.offset < b.offset ? -1 : 1));
  return Buffer.concat(parts.map((p) => p.data));
}

export function exportData(name: string, infos: number[] = []): Buffer {
  const n = Buffer.from(name);
  const b = Buffer.alloc(4 + n.length + 2 + 2 * infos.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + n.length);
  infos.forEach((t, i) => b.writeUInt16BE(t, 6 + n.length + 2 * i));
  return b;
}

export function metaContextData(name: string, queries: string[]): Buffer {
  const parts = [u32(Buffer.byteLength(name)), Buffer.from(name), u32(queries.length)];
  for (const q of queries) parts.push(u32(Buffer.byteLength(q)), Buffer.from(q));
  return Buffer.concat(parts);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
