import { BasaltError, ErrorCode, limits, type Identity } from '@basalt/stdx';
import { decodeMetaCall, encodeMetaResult, errorFields, metaCallSplitter, metaService, SocketBatch, type DataSocket, type MetaMethodName, type pb, type TransportSecurity } from '@basalt/wire';
import type { CallerHandlers } from './meta-api.js';
import { runMetaCall } from './meta-call.js';
import type { MetaMetrics } from './metrics.js';

export interface MetaCallReceiverOptions {
  /** The member's TransportSecurity: who the peer is, and whether its certificate is revoked. */
  security: TransportSecurity;
  handlers: CallerHandlers;
  metrics: MetaMetrics;
  log: (line: string) => void;
}

/** The methods by the name calls carry ("SetVolumeLabel"), as the gRPC service names them. */
const methodsByName: ReadonlyMap<string, MetaMethodName> = new Map(
  (Object.keys(metaService) as MetaMethodName[]).map((m) => [metaService[m].originalName, m]),
);

/**
 * Serves one framed Meta connection (meta-frames.ts; the caller is MetaConnection) as
 * MetaListener hands it over with `first`, the bytes already read, and `refused`, the listener's
 * verdict on the peer's certificate. Each call runs the same handler as its gRPC twin
 * (grpc-server.ts, through runMetaCall: per-method metrics, internal errors as BASALT_IO) as the
 * caller its certificate proves, and is answered when the handler settles, in any order. As on
 * the gRPC path, the identity is checked on every call: a refused peer's calls, and every call
 * once its certificate is revoked, get BASALT_UNAUTHENTICATED. A call of an unknown method, or
 * whose request does not decode, gets BASALT_PROTOCOL and reaches no handler. A frame that does
 * not parse closes the connection at once: nothing after it runs. A result is not sent once the
 * caller's timeout passed (it stopped waiting) or the connection closed.
 */
export function serveMetaConnection(socket: DataSocket, first: Buffer, refused: BasaltError | undefined, opts: MetaCallReceiverOptions): void {
  const peer = provePeer(socket, refused, opts.security);
  const splitter = metaCallSplitter();
  const batch = SocketBatch.bounded(socket);
  let closed = false;
  /** After a framing error: no call can be told it was the one that broke, so the caller learns from the closed connection. */
  const close = (): void => {
    closed = true;
    socket.destroy();
  };
  const answer = (call: pb.MetaCall, receivedMs: number, result: pb.IMetaResult): void => {
    if (closed || (call.timeoutMs > 0 && Date.now() - receivedMs > call.timeoutMs)) return;
    batch.write(encodeMetaResult(result));
  };
  const onData = (chunk: Buffer): void => {
    if (closed) return;
    const split = splitter.push(chunk);
    for (const frame of split.frames) {
      let call: pb.MetaCall;
      try {
        call = decodeMetaCall(frame);
      } catch {
        return close();
      }
      const receivedMs = Date.now();
      void runCall(call, peer, opts).then((result) => answer(call, receivedMs, result));
    }
    if (split.kind === 'error') close();
  };
  socket.on('data', onData);
  socket.on('error', () => undefined);
  socket.on('close', () => { closed = true; });
  socket.on('end', () => {
    if (splitter.pendingBytes > 0) close();
  });
  socket.resume();
  onData(first);
}

/** Who the peer is: its identity and certificate serial (checked for revocation on every call), or why it was refused. */
type Peer = { readonly identity: Identity; readonly serial: string | undefined } | { readonly refused: BasaltError };

function provePeer(socket: DataSocket, refused: BasaltError | undefined, security: TransportSecurity): Peer {
  if (refused !== undefined) return { refused };
  try {
    const identity = security.peerIdentityOfSocket(socket);
    return { identity, serial: security.peerSerial(socket) };
  } catch (err) {
    return { refused: err as BasaltError };
  }
}

function callerOf(peer: Peer, security: TransportSecurity): Identity {
  if ('refused' in peer) throw peer.refused;
  if (peer.serial !== undefined) security.assertNotRevoked(peer.serial);
  return peer.identity;
}

async function runCall(call: pb.MetaCall, peer: Peer, opts: MetaCallReceiverOptions): Promise<pb.IMetaResult> {
  const method = methodsByName.get(call.method);
  if (method === undefined) return failed(call, new BasaltError(ErrorCode.Protocol, `unknown Meta method ${JSON.stringify(call.method)}`, { method: call.method }));
  const def = metaService[method];
  const handlers = opts.handlers as unknown as Record<MetaMethodName, (request: unknown, caller: Identity) => Promise<unknown>>;
  const outcome = await runMetaCall(method, async () => {
    const caller = callerOf(peer, opts.security);
    return handlers[method](decodeRequest((bytes) => def.requestDeserialize(bytes), call), caller);
  }, opts.metrics, opts.log);
  if (!outcome.ok) return failed(call, outcome.error);
  const reply = (def.responseSerialize as (value: unknown) => Buffer)(outcome.reply);
  if (reply.length > limits.metaReplyBytesMax) return failed(call, new BasaltError(ErrorCode.LimitExceeded, `the ${call.method} reply of ${reply.length} bytes is above the limit of ${limits.metaReplyBytesMax}`, { bytes: reply.length }));
  return { id: call.id, reply };
}

function decodeRequest(decode: (bytes: Buffer) => unknown, call: pb.MetaCall): unknown {
  try {
    return decode(call.request as Buffer);
  } catch (err) {
    throw new BasaltError(ErrorCode.Protocol, `a ${call.method} request that does not decode: ${(err as Error).message}`, { method: call.method });
  }
}

function failed(call: pb.MetaCall, error: BasaltError): pb.IMetaResult {
  return { id: call.id, error: errorFields(error) };
}
