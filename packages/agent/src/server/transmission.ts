import { AssertionError, assert, isBasaltError, limits } from '@basalt/stdx';
import {
  Cmd, CmdFlag, Errno, REQUEST_HEADER_BYTES, checkRequest, decodeRequest, encodeBlockStatus, encodeDataChunkHeader,
  encodeDoneChunk, encodeErrorChunk, encodeHoleChunk, encodeSimpleReply, errnoForCode, planRead,
} from '../protocol/index.js';
import type { ByteQueue, Request, TransmissionContext } from '../protocol/index.js';
import type { BlockDevice } from '../block-device.js';
import type { AgentMetrics, ConnectionOpMetrics, OpName } from './metrics.js';

/** Reads at least this long ask the device for holes and send them as hole chunks (not with DF). */
const holeAwareReadBytesMin = 64 * 1024;

export type TransmissionEnv = {
  id: string;
  metrics: AgentMetrics;
  /** Sends one reply; its buffers go out back to back. `sent` runs once the socket has written them all (not if it fails). */
  send: (buffers: Buffer[], sent?: () => void) => void;
  /** Stop / restart reading from the socket (in-flight budget). */
  pause: () => void;
  resume: () => void;
  /** Graceful end after DISC; hard close after a violation. */
  end: () => void;
  close: (reason: string) => void;
  /** Gives the device back to the pool; called once, after the last operation ended. */
  release: () => Promise<void>;
  log: (message: string) => void;
};

const opNames: Record<number, OpName> = {
  [Cmd.Read]: 'read', [Cmd.Write]: 'write', [Cmd.Flush]: 'flush', [Cmd.Trim]: 'trim',
  [Cmd.Cache]: 'cache', [Cmd.WriteZeroes]: 'write_zeroes', [Cmd.BlockStatus]: 'block_status',
};

/**
 * The transmission phase of one connection: parses requests, runs them concurrently on the
 * device and replies as each finishes (out of order). Invariants: `inflightBytes` is the sum of
 * READ/WRITE lengths of running requests and stays within limits.nbdConnectionInflightBytesMax
 * (a single larger request runs alone); after DISC or close nothing new starts.
 */
export class Transmission {
  private inflightBytes = 0;
  private inflightCount = 0;
  private paused = false;
  private stopped = false;
  /** A parsed request waiting for its budget or its WRITE payload. */
  private pending: Request | undefined;
  /**
   * The payload of `pending` (a WRITE) while it is read in place: its own buffer, of which the
   * first `filled` bytes arrived. Only after readPayloadsInPlace(); `queue` then holds no byte of it.
   */
  private filling: { buffer: Buffer; filled: number } | undefined;
  private payloadsInPlace = false;
  private idleWaiters: (() => void)[] = [];
  private shutdownPromise: Promise<void> | undefined;
  private readonly opMetrics: ConnectionOpMetrics;
  /** A WRITE payload's own buffer (read into in place, or assembled from socket chunks): the device's recycled memory when it offers some. */
  private readonly payloadBuffer: (length: number) => Buffer;

  constructor(
    private readonly ctx: TransmissionContext,
    private readonly device: BlockDevice,
    private readonly env: TransmissionEnv,
  ) {
    env.metrics.connectionOpened(ctx.volume);
    this.opMetrics = env.metrics.forConnection(env.id, ctx.volume);
    this.payloadBuffer = device.writeBuffer !== undefined ? (length) => device.writeBuffer!(length) : (length) => Buffer.allocUnsafe(length);
  }

  /**
   * From now on a WRITE payload that has not arrived with its header is read into its own buffer
   * (the device's writeBuffer): the connection's reads ask payloadTarget() where to put their
   * bytes. Called once, before the first step, by a connection whose socket reads in place.
   */
  readPayloadsInPlace(): void {
    this.payloadsInPlace = true;
  }

  /** The rest of the WRITE payload being read in place, where the next read goes; else undefined. */
  payloadTarget(): Buffer | undefined {
    const f = this.filling;
    return f === undefined || this.stopped ? undefined : f.buffer.subarray(f.filled);
  }

  /** `n` bytes were read into `target`, the buffer payloadTarget() returned. */
  payloadRead(target: Buffer, n: number): void {
    const f = this.filling;
    if (f === undefined) return assert(this.stopped, 'a read in place without a payload being read');
    assert(target.buffer === f.buffer.buffer && target.byteOffset === f.buffer.byteOffset + f.filled, 'payloadRead takes the buffer payloadTarget returned');
    assert(n > 0 && f.filled + n <= f.buffer.length, 'a read in place stays inside its payload');
    f.filled += n;
  }

  /**
   * Bytes read elsewhere (the staging buffer) while a payload is read in place: copies their
   * start, up to the payload's end, into it; returns how many it took (the rest follows the payload).
   */
  fillFrom(bytes: Buffer): number {
    const f = this.filling;
    if (f === undefined || this.stopped) return 0;
    const n = bytes.copy(f.buffer, f.filled);
    f.filled += n;
    return n;
  }

  /** Starts the next request if it is complete and fits the budget; returns whether it did. */
  step(queue: ByteQueue): boolean {
    if (this.stopped) return false;
    if (this.pending === undefined) {
      if (queue.length < REQUEST_HEADER_BYTES) return false;
      const req = decodeRequest(queue.take(REQUEST_HEADER_BYTES));
      if (req === undefined) return this.violation('bad request magic');
      if (req.type === Cmd.Write && req.length > limits.nbdRequestBytesMax) return this.violation(`WRITE of ${req.length} bytes (max ${limits.nbdRequestBytesMax})`);
      this.pending = req;
      this.maybeFillInPlace(req, queue);
    }
    const req = this.pending;
    if (!this.fits(req)) {
      this.pauseReading();
      return false;
    }
    let payload: Buffer | undefined;
    if (req.type === Cmd.Write) {
      payload = this.takePayload(req, queue);
      if (payload === undefined) return false;
    }
    this.pending = undefined;
    if (req.type === Cmd.Disc) {
      this.disconnect();
      return false;
    }
    this.start(req, payload);
    return true;
  }

  /** Reads the rest of a WRITE payload that did not arrive whole into its own buffer, once reads go in place. */
  private maybeFillInPlace(req: Request, queue: ByteQueue): void {
    if (!this.payloadsInPlace || req.type !== Cmd.Write || queue.length >= req.length) return;
    const buffer = this.payloadBuffer(req.length);
    this.filling = { buffer, filled: queue.drainInto(buffer) };
  }

  /** The payload of `req` (a WRITE) once it arrived whole; undefined while it has not. */
  private takePayload(req: Request, queue: ByteQueue): Buffer | undefined {
    const f = this.filling;
    if (f !== undefined) {
      if (f.filled < req.length) return undefined;
      this.filling = undefined;
      return f.buffer;
    }
    return queue.length < req.length ? undefined : queue.take(req.length, this.payloadBuffer);
  }

  /** The socket is gone: wait for running requests, then give the device back. Idempotent. */
  shutdown(): Promise<void> {
    this.stopped = true;
    this.shutdownPromise ??= this.idle().then(async () => {
      this.env.metrics.connectionClosed(this.env.id, this.ctx.volume);
      await this.env.release();
    });
    return this.shutdownPromise;
  }

  private violation(reason: string): boolean {
    this.stopped = true;
    this.env.close(reason);
    return false;
  }

  private disconnect(): void {
    this.stopped = true;
    void this.idle().then(() => this.env.end());
  }

  private idle(): Promise<void> {
    if (this.inflightCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private cost(req: Request): number {
    return req.type === Cmd.Read || req.type === Cmd.Write ? req.length : 0;
  }

  private fits(req: Request): boolean {
    return this.inflightCount === 0 || this.inflightBytes + this.cost(req) <= limits.nbdConnectionInflightBytesMax;
  }

  private pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.env.pause();
  }

  private start(req: Request, payload: Buffer | undefined): void {
    const cost = this.cost(req);
    this.inflightCount++;
    this.inflightBytes += cost;
    void this.execute(req, payload, cost);
  }

  private done(cost: number): void {
    this.inflightCount--;
    this.inflightBytes -= cost;
    assert(this.inflightCount >= 0 && this.inflightBytes >= 0, 'in-flight accounting went negative');
    if (this.paused && !this.stopped && (this.pending === undefined || this.fits(this.pending))) {
      this.paused = false;
      this.env.resume();
    }
    if (this.inflightCount === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Runs one request to its reply and its metrics; `done(cost)` follows in every case. */
  private async execute(req: Request, payload: Buffer | undefined, cost: number): Promise<void> {
    try {
      const started = process.hrtime.bigint();
      const op = opNames[req.type] ?? 'invalid';
      let errno: Errno | 0 = 0;
      const refusal = checkRequest(req, this.ctx, limits.nbdRequestBytesMax);
      if (refusal !== undefined) {
        errno = refusal.errno;
        this.replyError(req, refusal.errno, refusal.message);
      } else {
        try {
          await this.run(req, payload);
        } catch (err) {
          if (err instanceof AssertionError) throw err;
          errno = errnoForCode(isBasaltError(err) ? err.code : undefined);
          // EIO means the storage failed (not the client): operators need to see why.
          if (errno === Errno.EIO) this.env.log(`nbd ${this.ctx.volume}: ${op} [${req.offset}, +${req.length}) failed: ${isBasaltError(err) ? err.code : 'unexpected'}: ${String(err)}`);
          this.replyError(req, errno, err instanceof Error ? err.message : String(err));
        }
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.opMetrics.record(op, cost, seconds, errno);
    } finally {
      this.done(cost);
    }
  }

  /** Not async itself: each branch's promise is awaited directly (an async wrapper would add promise turns). */
  private run(req: Request, payload: Buffer | undefined): Promise<void> {
    switch (req.type) {
      case Cmd.Read:
        return this.read(req);
      case Cmd.BlockStatus:
        return this.blockStatus(req);
      default:
        return this.mutate(req, payload);
    }
  }

  /** The commands that reply with a bare acknowledgement. */
  private async mutate(req: Request, payload: Buffer | undefined): Promise<void> {
    const fua = (req.flags & CmdFlag.Fua) !== 0;
    switch (req.type) {
      case Cmd.Write:
        if (req.length > 0) await this.device.write(req.offset, payload!, { fua });
        break;
      case Cmd.Flush:
        await this.device.flush();
        break;
      case Cmd.Trim:
        if (req.length > 0) await this.device.trim(req.offset, req.length);
        if (fua) await this.device.flush();
        break;
      case Cmd.WriteZeroes:
        if (req.length > 0) {
          const noHole = (req.flags & CmdFlag.NoHole) !== 0;
          await this.device.writeZeroes(req.offset, req.length, { noHole, fastOnly: (req.flags & CmdFlag.FastZero) !== 0 });
        }
        if (fua) await this.device.flush();
        break;
      case Cmd.Cache:
        // A hint; volumes have no agent-side cache to warm, so validating the range is all there is.
        break;
    }
    this.replyOk(req);
  }

  private async read(req: Request): Promise<void> {
    if (!this.ctx.structuredReplies) {
      const data = req.length === 0 ? Buffer.alloc(0) : await this.readExact(req.offset, req.length);
      this.env.send([encodeSimpleReply(req.handle, 0), data], this.recycling([data]));
      return;
    }
    if (req.length === 0) return this.replyOk(req);
    const df = (req.flags & CmdFlag.Df) !== 0;
    if (df || req.length < holeAwareReadBytesMin) {
      // What planRead makes of no extents: one data piece, the whole range, final.
      const data = await this.readExact(req.offset, req.length);
      this.env.send([encodeDataChunkHeader(req.handle, req.offset, req.length, true), data], this.recycling([data]));
      return;
    }
    const extents = await this.device.allocation(req.offset, req.length, { coarse: true });
    const pieces = planRead(req.offset, req.length, extents);
    // Read every data piece before sending anything: a chunk may only be final once no error can follow.
    const data = await Promise.all(pieces.map((p) => (p.hole ? Promise.resolve(undefined) : this.readExact(p.offset, p.length))));
    const out: Buffer[] = [];
    pieces.forEach((p, i) => {
      const last = i === pieces.length - 1;
      const d = data[i];
      if (d === undefined) out.push(encodeHoleChunk(req.handle, p.offset, p.length, last));
      else out.push(encodeDataChunkHeader(req.handle, p.offset, p.length, last), d);
    });
    this.env.send(out, this.recycling(data.filter((d): d is Buffer => d !== undefined)));
  }

  /** What gives a reply's read buffers back to the device once they are sent (nothing when it keeps none). */
  private recycling(buffers: readonly Buffer[]): (() => void) | undefined {
    const device = this.device;
    if (device.recycle === undefined) return undefined;
    return () => {
      for (const b of buffers) device.recycle!(b);
    };
  }

  private readExact(offset: number, length: number): Promise<Buffer> {
    return this.device.read(offset, length).then((data) => {
      // The check first, so the message string is built only on failure (this runs per read).
      if (data.length !== length) assert(false, `device read ${data.length} bytes, asked for ${length}`);
      return data;
    });
  }

  private async blockStatus(req: Request): Promise<void> {
    const extents = await this.device.allocation(req.offset, req.length);
    const max = (req.flags & CmdFlag.ReqOne) !== 0 ? 1 : limits.nbdBlockStatusExtentsMax;
    this.env.send([encodeBlockStatus(req.handle, this.ctx.allocationContextId!, extents, req.length, max)]);
  }

  private replyOk(req: Request): void {
    this.env.send([this.ctx.structuredReplies ? encodeDoneChunk(req.handle) : encodeSimpleReply(req.handle, 0)]);
  }

  private replyError(req: Request, errno: Errno, message: string): void {
    this.env.send([this.ctx.structuredReplies ? encodeErrorChunk(req.handle, errno, message) : encodeSimpleReply(req.handle, errno)]);
  }
}
