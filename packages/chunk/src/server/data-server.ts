import type net from 'node:net';
import { ErrorCode, identityUri, limits, type BasaltError } from '@basalt/stdx';
import { decodeRequest, DataOp, encodeResponse, ExtentState, FramePool, FrameReads, FrameSplitter, requestMagic, SocketBatch, type DataRequest, type DataResponse, type DataSocket, type SplitResult, type TransportSecurity } from '@basalt/wire';
import { newGrants } from '../replica/authorize.js';
import type { ChunkService } from './chunk-service.js';
import type { ChunkMetrics } from './metrics.js';

/**
 * The data-plane listener. Each connection: frames are cut by FrameSplitter, decoded, and handed
 * to the service in arrival order; replies go out as they complete (any order). Requests hold
 * bytes of the connection's in-flight budget until answered; above it the socket stops reading
 * (TCP back-pressure). Bad input gets an error reply (with the request id when it could be read);
 * the connection stops reading, answers the requests before the bad one, then closes. Other
 * connections are unaffected. Write frames are assembled in recycled buffers (FramePool), given
 * back when the write (or COPY) succeeded: then the store wrote them and every member answered, so
 * no socket still sends them. (A failed request's frame is left to the garbage collector.) Replies
 * that complete in one callback go out in one writev (SocketBatch; on a TLS socket bounded, and a
 * large READ reply's payload handed to the socket alone, uncopied). Requests are read in place
 * (FrameReads.adopt): a frame that spans reads is read straight into its pooled buffer, through
 * one staging buffer shared by every connection for the rest. With mutual TLS, a peer whose
 * certificate proves no identity or is revoked gets one error reply (request id 0,
 * BASALT_UNAUTHENTICATED) and the connection is closed before any request is read.
 */
export class DataServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<DataSocket>();
  private readonly stopRevocations: () => void;
  /** Where reads that do not go straight into a frame land (copied out at once: one for all connections). */
  private readonly staging = Buffer.allocUnsafe(limits.connectionReadStagingBytes);

  constructor(
    private readonly service: ChunkService,
    private readonly metrics: ChunkMetrics,
    security: TransportSecurity,
    /** Where write frames are assembled and read replies' data goes back once sent (the store's readPool). */
    private readonly pool = new FramePool(limits.chunkFramePoolBytesMax),
  ) {
    this.server = security.createDataServer((socket, refused) => (refused === undefined ? this.accept(socket, identityUri(security.peerIdentityOfSocket(socket))) : refuse(socket, refused)));
    // A certificate revoked while its holder is connected: its connections end at once.
    this.stopRevocations = security.onRevocation(() => {
      for (const s of this.sockets) if (security.isRevokedPeer(s)) s.destroy();
    });
    this.server.maxConnections = limits.chunkConnectionsMax;
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const a = this.server.address() as net.AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  /** Stops accepting, lets replies in flight finish for up to graceMs, then closes every socket. */
  async close(graceMs = 2_000): Promise<void> {
    this.stopRevocations();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.end();
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }

  private accept(socket: DataSocket, presenter: string): void {
    socket.setNoDelay(true);
    this.sockets.add(socket);
    this.metrics.connections.inc();
    const splitter = new FrameSplitter(requestMagic, limits.dataFrameBytesMax, this.pool);
    let inflightBytes = 0;
    let inflightCount = 0;
    /** No more requests are read: the stream broke, or the client ended it. */
    let broken = false;
    const batch = SocketBatch.bounded(socket);
    /** The tokens this connection presented (AUTH), as verified. */
    const grants = newGrants(presenter);
    const closeWhenDrained = (): void => {
      if (!broken || inflightCount > 0) return;
      batch.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    };
    const reply = (res: DataResponse, sent?: () => void): void => {
      if (!socket.destroyed) batch.write(encodeResponse(res), sent);
    };
    const breakOff = (requestId: number, code: ErrorCode, message: string): void => {
      broken = true;
      this.metrics.protocolErrors.inc();
      reply({ ok: false, requestId, code, message, epoch: 0, version: 0, state: ExtentState.Absent });
      socket.pause();
      closeWhenDrained();
    };
    const dispatch = (req: DataRequest, frame: Buffer): void => {
      const bytes = frame.length + (req.op === DataOp.Read ? req.length : req.op === DataOp.Stamps ? stampsReplyBytes(req.length) : 0);
      inflightBytes += bytes;
      inflightCount++;
      if (inflightBytes > limits.connectionInflightBytesMax) socket.pause();
      void this.service.handle(req, grants).then((res) => {
        // A read's data may be pooled memory (the store's readPool): it goes back once written.
        reply(res, res.ok && req.op === DataOp.Read ? () => this.pool.give(res.payload) : undefined);
        if (res.ok && (req.op === DataOp.Write || req.op === DataOp.Copy)) this.pool.give(frame);
        inflightBytes -= bytes;
        inflightCount--;
        if (broken) closeWhenDrained();
        else if (inflightBytes <= limits.connectionInflightBytesMax) socket.resume();
      });
    };
    const onSplit = (split: SplitResult): void => {
      if (broken) return;
      for (const frame of split.frames) {
        const decoded = decodeRequest(frame);
        if (decoded.kind === 'error') return breakOff(decoded.requestId, decoded.code, decoded.message);
        dispatch(decoded.value, frame);
      }
      if (split.kind === 'error') breakOff(0, ErrorCode.Protocol, split.message);
    };
    const reads = new FrameReads(splitter, this.staging);
    reads.attach(onSplit);
    if (!reads.adopt(socket)) socket.on('data', (chunk: Buffer) => onSplit(splitter.push(chunk)));
    // Half-open: a client that has sent its last request still gets the replies to those in flight.
    socket.on('end', () => {
      if (broken) return;
      if (splitter.pendingBytes > 0) return breakOff(0, ErrorCode.Protocol, `connection ended inside a frame (${splitter.pendingBytes} bytes of it received)`);
      broken = true;
      closeWhenDrained();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.metrics.connections.dec();
    });
  }
}

function refuse(socket: DataSocket, err: BasaltError): void {
  socket.on('error', () => socket.destroy());
  socket.end(Buffer.concat(encodeResponse({ ok: false, requestId: 0, code: err.code, message: err.message, epoch: 0, version: 0, state: ExtentState.Absent })));
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/** Bytes of a STAMPS reply for a range: per block a CRC, a stamp and at most one bad-block number. */
function stampsReplyBytes(length: number): number {
  return (length / limits.checksumBlockBytes) * 16;
}
