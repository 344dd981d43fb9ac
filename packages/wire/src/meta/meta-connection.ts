import { BasaltError, ErrorCode } from '@basalt/stdx';
import { SocketBatch } from '../data/socket-batch.js';
import type { DataSocket, TransportSecurity } from '../security/transport-security.js';
import { transportError } from '../security/transport-security.js';
import { parseSocketAddress } from './endpoints.js';
import { errorOfFields } from './errors.js';
import { decodeMetaResult, encodeMetaCall, metaAlpnProtocol, metaFramingError, metaResultSplitter } from './meta-frames.js';
import type { pb } from './meta-service.js';

interface Pending {
  resolve(reply: Uint8Array): void;
  reject(err: BasaltError): void;
  readonly timer: NodeJS.Timeout;
}

/** Call ids are u32 and never 0. */
const callIdMax = 0xffffffff;

/**
 * One framed Meta connection to one member (meta-frames.ts): calls go out as MetaCall frames
 * (SocketBatch: the calls of one callback in one write), results are matched to their calls by
 * id. A call that gets no result within its timeout fails with BASALT_TIMEOUT (its result, if it
 * comes, is dropped). When the connection fails, every call on it fails with the reason
 * (BASALT_UNAVAILABLE, BASALT_UNAUTHENTICATED for a refused TLS handshake, BASALT_PROTOCOL for
 * a result that does not parse) and `failed` turns true: the owner opens a new one.
 * Invariants: every call settles exactly once (result, timeout or failure), and its timer is
 * cleared then; the socket does not keep the process alive (the pending calls' timers do).
 */
export class MetaConnection {
  private readonly socket: DataSocket;
  private readonly batch: SocketBatch;
  private readonly results = metaResultSplitter();
  private readonly pending = new Map<number, Pending>();
  private lastId = 0;
  private failure: BasaltError | undefined;

  constructor(
    readonly address: string,
    security: TransportSecurity,
  ) {
    const { host, port } = parseSocketAddress(address, 'address');
    this.socket = security.connectData(host, port, () => undefined, metaAlpnProtocol);
    this.socket.setNoDelay(true);
    this.socket.unref();
    this.batch = SocketBatch.bounded(this.socket);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err: Error) => this.fail(transportError(err, address, 'metad')));
    this.socket.on('close', () => this.fail(new BasaltError(ErrorCode.Unavailable, `metad ${address}: connection closed`, { address })));
  }

  /** The connection failed or was closed: calls on it fail at once. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Sends one call (`method` as the service names it, e.g. "SetVolumeLabel"); resolves with the reply's bytes. */
  call(method: string, request: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.lastId = this.lastId === callIdMax ? 1 : this.lastId + 1;
    const id = this.lastId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BasaltError(ErrorCode.Timeout, `metad ${this.address}: no reply to ${method} within ${timeoutMs} ms`, { address: this.address, timeoutMs }));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.batch.write(encodeMetaCall({ id, method, request, timeoutMs: Math.ceil(timeoutMs) }));
    });
  }

  /** Closes the connection; calls in flight fail with BASALT_CLOSED. */
  close(): void {
    this.fail(new BasaltError(ErrorCode.Closed, `metad ${this.address}: the client closed the connection`, { address: this.address }));
  }

  private onData(chunk: Buffer): void {
    const split = this.results.push(chunk);
    try {
      for (const frame of split.frames) this.settle(decodeMetaResult(frame));
    } catch (err) {
      return this.fail(err as BasaltError);
    }
    if (split.kind === 'error') this.fail(metaFramingError(split.message));
  }

  private settle(result: pb.MetaResult): void {
    const p = this.pending.get(result.id);
    if (p === undefined) return;
    this.pending.delete(result.id);
    clearTimeout(p.timer);
    if (result.error != null) p.reject(errorOfFields(result.error as pb.MetaCallError, { address: this.address }));
    else p.resolve(result.reply);
  }

  private fail(err: BasaltError): void {
    if (this.failure === undefined) this.failure = err;
    this.socket.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}
