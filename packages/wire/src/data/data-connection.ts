import { BasaltError, ErrorCode, errorFromWire, limits } from '@basalt/stdx';
import { DataFlag, DataOp, responseMagic, type ExtentState } from './constants.js';
import { authRequest, decodeBlockList, decodeResponse, decodeStampsPayload, encodeRequest, pingExtent, type DataRequest, type DataResponse, type ExtentRef } from './codec.js';
import { parseHostPort } from '../meta/endpoints.js';
import { FrameSplitter, type SplitResult } from './frame-splitter.js';
import { FrameReads } from './frame-reads.js';
import type { FramePool } from './frame-pool.js';
import { SocketBatch } from './socket-batch.js';
import { firstBadPiece, pieceCrcs } from './pieces.js';
import type { BlockStamps, StampsOutcome } from './stamp.js';
import { TransportSecurity, transportError, type DataSocket } from '../security/transport-security.js';

/**
 * One pipelined TCP connection to a chunk server. Many requests may be in flight; replies
 * may come back in any order. Requests beyond the connection's in-flight byte budget wait in
 * a FIFO queue. When the connection fails every waiting request fails with
 * BASALT_UNAVAILABLE; the connection is then dead (open a new one).
 *
 * A server that stops answering altogether (a stopped or hung process, a cut link) is found by
 * probing: when requests wait on it and it has sent nothing for probeAfterMs, the connection
 * sends a PING (answered at once by a live server, however long its requests take); if the
 * server still sends nothing for probeTimeoutMs, the connection fails with BASALT_UNAVAILABLE.
 * Requests then fail over within seconds instead of waiting for their timeouts, which stay the
 * bound for a server that is alive but slow.
 */
export interface DataConnectionOptions {
  /** Per-request timeout; BASALT_TIMEOUT when it passes. 0 disables. */
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly inflightBytesMax?: number;
  /** Silence (no frame received) with requests in flight before a PING is sent; 0: never probe. */
  readonly probeAfterMs?: number;
  /** Further silence after the PING before the connection fails. */
  readonly probeTimeoutMs?: number;
  /** Plain TCP (default) or mutual TLS; the process's one TransportSecurity. */
  readonly security?: TransportSecurity;
  /**
   * Where replies that span several socket reads (large reads) are assembled (default: fresh
   * buffers). A read's data is then a view into pooled memory, which its caller may give back
   * (FramePool.give) once nothing reads it any more.
   */
  readonly framePool?: FramePool;
}

export interface IoResult {
  /** The server's epoch for the extent after the request. */
  readonly epoch: number;
  readonly version: number;
  readonly state: ExtentState;
}

export interface ReadResult extends IoResult {
  readonly data: Buffer;
}

export interface StampsResult extends IoResult, StampsOutcome {}

export interface CopyResult extends IoResult {
  /** Blocks the member applied (the others held newer writes: copyApplies). */
  readonly applied: number;
}

type OkResponse = Extract<DataResponse, { ok: true }>;

interface Pending {
  readonly req: DataRequest;
  readonly bytes: number;
  readonly resolve: (res: OkResponse) => void;
  readonly reject: (err: BasaltError) => void;
  /** performance.now() after which the request times out; set when it is transmitted. */
  deadline: number;
}

const insecure = TransportSecurity.insecure();
const defaults = { security: insecure, requestTimeoutMs: 30_000, connectTimeoutMs: 10_000, probeAfterMs: limits.dataProbeAfterMs, probeTimeoutMs: limits.dataProbeTimeoutMs };

type Options = Required<Omit<DataConnectionOptions, 'framePool'>> & Pick<DataConnectionOptions, 'framePool'>;

export class DataConnection {
  private readonly inflight = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  private inflightBytes = 0;
  private nextId = 1;
  private failure: BasaltError | undefined;
  private readonly closeListeners: ((err: BasaltError) => void)[] = [];
  /**
   * One timer for every request's timeout (a timer per request cost a setTimeout and a
   * clearTimeout per request). Requests enter `inflight` in deadline order (the timeout is the
   * same for all), so the timer is armed for the oldest one and, when it fires, expires the
   * oldest ones and re-arms for the next. Unref'd: a request in flight holds the socket open,
   * which keeps the process alive anyway.
   */
  private timer: NodeJS.Timeout | undefined;
  /** Requests sent in one callback leave in one writev. */
  private readonly batch: SocketBatch;
  /** performance.now() of the last frame received, or of the first request sent after a quiet spell. */
  private heardAt = 0;
  /** When the last PING was sent (undefined: none since requests were last in flight). */
  private pingSentAt: number | undefined;
  /** PINGs sent and not answered (or failed): in `inflight` but not requests anyone waits for. */
  private pingsInflight = 0;
  /** Armed while requests are in flight (and probing is on). */
  private probeTimer: NodeJS.Timeout | undefined;
  /** Tokens already sent as AUTH on this connection (by identity: callers keep the Buffer they got). */
  private readonly presented = new WeakSet<Buffer>();

  private constructor(
    readonly address: string,
    private readonly socket: DataSocket,
    private readonly opts: Options,
    reads: FrameReads,
  ) {
    socket.setNoDelay(true);
    this.batch = SocketBatch.bounded(socket);
    reads.attach((split) => this.onSplit(split));
    socket.on('error', (err: Error) => this.fail(transportError(err, address, 'data connection to')));
    socket.on('close', () => this.fail(new BasaltError(ErrorCode.Unavailable, `data connection to ${address} closed`, { address })));
  }

  /** Connects to "host:port". */
  static connect(address: string, options: DataConnectionOptions = {}): Promise<DataConnection> {
    const opts = { ...defaults, inflightBytesMax: limits.connectionInflightBytesMax, ...options };
    const { host, port } = parseHostPort(address);
    // Replies are read in place: a large read's data straight into its (pooled) frame.
    const reads = new FrameReads(new FrameSplitter(responseMagic, limits.dataFrameBytesMax, opts.framePool));
    return new Promise((resolve, reject) => {
      const socket = opts.security.connectData(host, port, () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new DataConnection(address, socket, opts, reads));
      }, undefined, reads.onread);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new BasaltError(ErrorCode.Timeout, `connecting to ${address} timed out after ${opts.connectTimeoutMs} ms`, { address }));
      }, opts.connectTimeoutMs);
      socket.once('error', (err: Error) => {
        clearTimeout(timer);
        reject(transportError(err, address, 'cannot connect to'));
      });
    });
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** Bytes of requests sent and not yet answered. */
  get inflightByteCount(): number {
    return this.inflightBytes;
  }

  /** Called once when the connection dies, with the reason. */
  onClose(listener: (err: BasaltError) => void): void {
    if (this.failure !== undefined) listener(this.failure);
    else this.closeListeners.push(listener);
  }

  async read(extent: ExtentRef, offset: number, length: number): Promise<ReadResult> {
    return readResult(await this.send({ op: DataOp.Read, flags: 0, requestId: 0, extent, offset, length }), extent, offset, length, this.address);
  }

  /** Writes data; crcs default to ones computed here (pass them through when forwarding). */
  async write(extent: ExtentRef, offset: number, data: Buffer, options: { fua?: boolean; crcs?: Uint32Array } = {}): Promise<IoResult> {
    const crcs = options.crcs ?? pieceCrcs(offset, data);
    const flags = options.fua === true ? DataFlag.Fua : 0;
    return head(await this.send({ op: DataOp.Write, flags, requestId: 0, extent, offset, length: data.length, crcs, payload: data }));
  }

  /** FLUSH through the primary (it syncs and forwards), or with `local` of this server's replica only (DataFlag.Local). */
  async flush(extent: ExtentRef, options: { local?: boolean } = {}): Promise<IoResult> {
    return head(await this.send({ op: DataOp.Flush, flags: options.local === true ? DataFlag.Local : 0, requestId: 0, extent, offset: 0, length: 0 }));
  }

  async trim(extent: ExtentRef, offset: number, length: number, options: { fua?: boolean } = {}): Promise<IoResult> {
    const flags = options.fua === true ? DataFlag.Fua : 0;
    return head(await this.send({ op: DataOp.Trim, flags, requestId: 0, extent, offset, length }));
  }

  async writeZeroes(extent: ExtentRef, offset: number, length: number, options: { fua?: boolean } = {}): Promise<IoResult> {
    const flags = options.fua === true ? DataFlag.Fua : 0;
    return head(await this.send({ op: DataOp.WriteZeroes, flags, requestId: 0, extent, offset, length }));
  }

  /** The server's view of the extent: epoch, version, state (Absent when it holds none). */
  async info(extent: ExtentRef): Promise<IoResult> {
    return head(await this.send({ op: DataOp.Info, flags: 0, requestId: 0, extent, offset: 0, length: 0 }));
  }

  /**
   * Per-block stamps and CRCs of the whole blocks [offset, offset+length) on this server; with
   * verify the server re-reads the data and lists the blocks that fail their CRC (`bad`). An
   * extent the server holds none of reports (0, 0) and the zero block's CRC for every block.
   * Sent FORWARDED when it must order with a primary's forwarded writes on this connection.
   */
  async stamps(extent: ExtentRef, offset: number, length: number, options: { verify?: boolean; forwarded?: boolean } = {}): Promise<StampsResult> {
    return stampsResult(await this.send(stampsRequest(extent, offset, length, options)), length, this.address);
  }

  /**
   * COPY (primary -> member): whole blocks at offset with one CRC32C and one stamp per block and
   * the floor epoch (the epoch at which the member joined as rebuilding). The member checks every
   * CRC on arrival and applies a block iff its own stamp's epoch is below the floor or the copied
   * stamp is newer.
   */
  async copy(extent: ExtentRef, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps, floorEpoch: number): Promise<CopyResult> {
    return copyResult(await this.send(copyRequest(extent, offset, data, crcs, stamps, floorEpoch)), this.address);
  }

  /** SNAPSHOT (to the primary, by the writer): records snapshot `id` of the extent at this point of its write stream on every member. */
  async snapshot(extent: ExtentRef, id: number): Promise<IoResult> {
    return head(await this.send({ op: DataOp.Snapshot, flags: 0, requestId: 0, extent, offset: 0, length: 0, snapshot: id }));
  }

  /** SNAPSHOT_DELETE (to the primary): drops snapshot `id` of the extent on every member. */
  async snapshotDelete(extent: ExtentRef, id: number): Promise<IoResult> {
    return head(await this.send({ op: DataOp.SnapshotDelete, flags: 0, requestId: 0, extent, offset: 0, length: 0, snapshot: id }));
  }

  /** READ as of snapshot `id`, verified like read(). */
  async snapshotRead(extent: ExtentRef, id: number, offset: number, length: number): Promise<ReadResult> {
    return readResult(await this.send({ op: DataOp.SnapshotRead, flags: 0, requestId: 0, extent, offset, length, snapshot: id }), extent, offset, length, this.address);
  }

  /** Block numbers of the whole blocks [offset, offset+length) that differ between snapshot `from` (0: never written) and `to` (0: now). */
  async snapshotDiff(extent: ExtentRef, from: number, to: number, offset: number, length: number): Promise<number[]> {
    const res = await this.send({ op: DataOp.SnapshotDiff, flags: 0, requestId: 0, extent, offset, length, snapshotFrom: from, snapshot: to });
    const blocks = decodeBlockList(res.payload);
    if (blocks === undefined) throw new BasaltError(ErrorCode.Protocol, `malformed snapshot diff reply from ${this.address}`, { address: this.address });
    return blocks;
  }

  /**
   * Presents a signed token (AUTH): the server verifies it and checks later requests on this
   * connection against it. Rejects with BASALT_UNAUTHENTICATED when the server refuses it.
   */
  async authenticate(token: Buffer): Promise<void> {
    this.presented.add(token);
    await this.enqueue(authRequest(token));
  }

  /**
   * Sends one request as is (its requestId is replaced). Resolves with the reply, or rejects
   * with the server's error (a BasaltError with the server's code and details.epoch/state).
   * The tokens of `req.extent.auth` this connection has not sent yet go first, as AUTH frames:
   * a refused one shows in the refusal of the request that needed it, and is sent again with the
   * next request that carries it (the server may not have known metad's key yet).
   */
  send(req: DataRequest): Promise<OkResponse> {
    const auth = req.extent.auth;
    if (auth !== undefined && this.failure === undefined) {
      for (const token of auth) {
        if (this.presented.has(token)) continue;
        this.presented.add(token);
        this.enqueue(authRequest(token)).catch(() => this.presented.delete(token));
      }
    }
    return this.enqueue(req);
  }

  private enqueue(req: DataRequest): Promise<OkResponse> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const bytes = requestBytes(req);
    return new Promise<OkResponse>((resolve, reject) => {
      const pending: Pending = { req, bytes, resolve, reject, deadline: 0 };
      if (this.queue.length === 0 && this.fits(bytes)) this.transmit(pending);
      else this.queue.push(pending);
    });
  }

  /** Closes the connection; waiting requests fail with BASALT_CLOSED. */
  close(): void {
    this.fail(new BasaltError(ErrorCode.Closed, `data connection to ${this.address} closed by this side`, { address: this.address }));
  }

  private fits(bytes: number): boolean {
    return this.inflight.size === 0 || this.inflightBytes + bytes <= this.opts.inflightBytesMax;
  }

  private transmit(p: Pending): void {
    if (this.inflight.size === this.pingsInflight) this.heardAt = performance.now();
    if (this.probeTimer === undefined && this.opts.probeAfterMs > 0) this.armProbe(this.opts.probeAfterMs);
    const requestId = this.allocateId();
    this.inflight.set(requestId, p);
    this.inflightBytes += p.bytes;
    if (this.opts.requestTimeoutMs > 0) {
      p.deadline = performance.now() + this.opts.requestTimeoutMs;
      if (this.timer === undefined) this.armTimer(this.opts.requestTimeoutMs);
    }
    this.batch.write(encodeRequest(p.req, requestId));
  }

  private armTimer(ms: number): void {
    this.timer = setTimeout(this.expire, ms);
    this.timer.unref();
  }

  /**
   * Times out the in-flight requests whose deadline passed (the oldest first), then re-arms for
   * the oldest left. While this runs `timer` still holds the spent timer, so requests that the
   * timeouts let out of the queue do not arm one of their own.
   */
  private readonly expire = (): void => {
    const now = performance.now();
    for (const [requestId, p] of this.inflight) {
      if (p.deadline > now) break;
      this.timeout(requestId);
    }
    this.timer = undefined;
    for (const p of this.inflight.values()) {
      this.armTimer(p.deadline - now);
      break;
    }
  };

  private armProbe(ms: number): void {
    this.probeTimer = setTimeout(this.probe, Math.max(1, ms));
    this.probeTimer.unref();
  }

  /** Runs while requests are in flight: pings a silent server, fails the connection if it stays silent. */
  private readonly probe = (): void => {
    this.probeTimer = undefined;
    if (this.failure !== undefined) return;
    const waiting = this.inflight.size - this.pingsInflight;
    if (waiting === 0) {
      this.pingSentAt = undefined;
      return; // transmit() arms it again
    }
    const now = performance.now();
    if (this.pingSentAt !== undefined && this.heardAt < this.pingSentAt) {
      const waited = now - this.pingSentAt;
      if (waited >= this.opts.probeTimeoutMs) {
        const quiet = Math.round(now - this.heardAt);
        this.fail(new BasaltError(ErrorCode.Unavailable, `chunk server at ${this.address} sent nothing for ${quiet} ms with ${waiting} request(s) waiting and did not answer a ping: treated as unresponsive`, { address: this.address, silentMs: quiet }));
        return;
      }
      this.armProbe(this.opts.probeTimeoutMs - waited);
      return;
    }
    const quiet = now - this.heardAt;
    if (quiet < this.opts.probeAfterMs) {
      this.armProbe(this.opts.probeAfterMs - quiet);
      return;
    }
    this.pingSentAt = now;
    // Checks again after probeAfterMs: an answered ping lets the next one go then.
    this.armProbe(Math.min(this.opts.probeAfterMs, this.opts.probeTimeoutMs));
    // Past the queue and the byte budget: a ping is a header, and it must go out now.
    const settled = (): void => void this.pingsInflight--;
    this.transmit({ req: { op: DataOp.Ping, flags: 0, requestId: 0, extent: pingExtent, offset: 0, length: 0 }, bytes: 0, resolve: settled, reject: settled, deadline: 0 });
    this.pingsInflight++; // after transmit(), which would otherwise take the ping for the first of a new busy spell
  };

  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
      if (!this.inflight.has(id)) return id;
    }
  }

  private timeout(requestId: number): void {
    const p = this.settle(requestId);
    if (p === undefined) return;
    p.reject(new BasaltError(ErrorCode.Timeout, `request to ${this.address} timed out after ${this.opts.requestTimeoutMs} ms`, { address: this.address }));
  }

  /** Removes a request from the in-flight set and lets queued ones go. */
  private settle(requestId: number): Pending | undefined {
    const p = this.inflight.get(requestId);
    if (p === undefined) return undefined;
    this.inflight.delete(requestId);
    this.inflightBytes -= p.bytes;
    while (this.failure === undefined && this.queue.length > 0 && this.fits(this.queue[0]!.bytes)) this.transmit(this.queue.shift()!);
    return p;
  }

  private onSplit(split: SplitResult): void {
    this.heardAt = performance.now();
    for (const frame of split.frames) this.onFrame(frame);
    if (split.kind === 'error') this.protocolError(split.message);
  }

  private onFrame(frame: Buffer): void {
    const decoded = decodeResponse(frame);
    if (decoded.kind === 'error') {
      this.protocolError(decoded.message);
      return;
    }
    const res = decoded.value;
    // Request id 0 is never allocated: such an error is about the connection (the server refused it).
    if (res.requestId === 0 && !res.ok) {
      this.fail(errorFromWire(res.code, res.message, { address: this.address }));
      return;
    }
    const p = this.settle(res.requestId);
    if (p === undefined) return; // timed out earlier
    if (res.ok) p.resolve(res);
    // `answered`: the server is alive and said no, unlike the connection's own failures and timeouts.
    else p.reject(errorFromWire(res.code, res.message, { address: this.address, epoch: res.epoch, state: res.state, answered: true, ...(res.signedState !== undefined && { signedState: res.signedState }) }));
  }

  private protocolError(message: string): void {
    this.fail(new BasaltError(ErrorCode.Protocol, `bad reply from ${this.address}: ${message}`, { address: this.address }));
  }

  private fail(err: BasaltError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.socket.destroy();
    const waiting = [...this.inflight.values(), ...this.queue];
    this.inflight.clear();
    this.queue.length = 0;
    this.inflightBytes = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    for (const p of waiting) p.reject(err);
    for (const l of this.closeListeners.splice(0)) l(err);
  }
}

/** Checks the reply to a READ of `length` bytes at offset (its length and every piece's CRC). */
export function readResult(res: OkResponse, extent: ExtentRef, offset: number, length: number, address: string): ReadResult {
  if (res.payload.length !== length) throw new BasaltError(ErrorCode.Protocol, `read of ${length} bytes returned ${res.payload.length}`);
  const bad = firstBadPiece(offset, res.payload, res.crcs);
  if (bad >= 0) {
    throw new BasaltError(ErrorCode.Checksum, `checksum mismatch in data read from ${address}`, { address, volumeId: extent.volumeId, index: extent.index, piece: bad });
  }
  return { data: res.payload, epoch: res.epoch, version: res.version, state: res.state };
}

/** The STAMPS request of DataConnection.stamps (shared with connections that are not TCP: the simulation's). */
export function stampsRequest(extent: ExtentRef, offset: number, length: number, options: { verify?: boolean; forwarded?: boolean } = {}): DataRequest {
  const flags = (options.verify === true ? DataFlag.Verify : 0) | (options.forwarded === true ? DataFlag.Forwarded : 0);
  return { op: DataOp.Stamps, flags, requestId: 0, extent, offset, length };
}

/** Decodes the reply to stampsRequest for `length` bytes. */
export function stampsResult(res: OkResponse, length: number, address: string): StampsResult {
  const out = decodeStampsPayload(res.payload, res.crcs, length / limits.checksumBlockBytes);
  if (out === undefined) throw new BasaltError(ErrorCode.Protocol, `malformed stamps reply from ${address}`, { address });
  return { epoch: res.epoch, version: res.version, state: res.state, epochs: out.epochs, seqs: out.seqs, crcs: out.crcs, bad: out.bad };
}

/** The COPY request of DataConnection.copy. */
export function copyRequest(extent: ExtentRef, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps, floorEpoch: number): DataRequest {
  return { op: DataOp.Copy, flags: DataFlag.Forwarded, requestId: 0, extent, offset, length: data.length, crcs, payload: data, stamps, floorEpoch };
}

/** Decodes the reply to copyRequest. */
export function copyResult(res: OkResponse, address: string): CopyResult {
  if (res.payload.length !== 4) throw new BasaltError(ErrorCode.Protocol, `malformed copy reply from ${address}`, { address });
  return { epoch: res.epoch, version: res.version, state: res.state, applied: res.payload.readUInt32BE(0) };
}

function head(res: OkResponse): IoResult {
  return { epoch: res.epoch, version: res.version, state: res.state };
}

/** Bytes a request holds of the budget: its frame plus the data it will bring back. */
function requestBytes(req: DataRequest): number {
  const reply = req.op === DataOp.Read || req.op === DataOp.SnapshotRead ? req.length : req.op === DataOp.SnapshotDiff ? (req.length / limits.checksumBlockBytes) * 4 : req.op === DataOp.Stamps ? (req.length / limits.checksumBlockBytes) * 16 : 0;
  const payload = req.op === DataOp.Write || req.op === DataOp.Copy || req.op === DataOp.SnapshotInstall || req.op === DataOp.Auth ? req.length : 0;
  return 64 + payload + reply;
}
