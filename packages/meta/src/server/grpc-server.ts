import { Server } from '@grpc/grpc-js';
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { BasaltError, ErrorCode, limits, type Identity } from '@basalt/stdx';
import { metaService, parseHostPort, toGrpcError } from '@basalt/wire';
import type { TransportSecurity } from '@basalt/wire';
import type { CallerHandlers } from './meta-api.js';
import { MetaListener } from './meta-listener.js';
import type { MetaMetrics } from './metrics.js';
import type { RaftHost } from './raft-host.js';
import { serveRaftConnection } from './raft-receiver.js';

/** The member's port: the gRPC server of the Meta API and the listener that also takes Raft connections. */
export interface MetaPort {
  readonly grpc: Server;
  readonly listener: MetaListener;
}

/**
 * Serves the Meta API and the Raft transport on host:port (MetaListener). With mutual TLS every
 * call and Raft connection first proves its peer's identity (`security.peerIdentityOfCall`;
 * `serveRaftConnection` for Raft): a certificate without one, or a revoked one, gets
 * BASALT_UNAUTHENTICATED. The identity is the caller the handlers authorize.
 */
export async function startGrpcServer(listen: string, handlers: CallerHandlers, host: RaftHost, metrics: MetaMetrics, security: TransportSecurity, log: (line: string) => void): Promise<MetaPort> {
  const server = new Server({
    'grpc.max_receive_message_length': limits.raftTransportMessageBytesMax,
    'grpc.max_send_message_length': limits.metaReplyBytesMax,
    // channelz (grpc-js's introspection service, which metad does not serve) keeps per-call and per-message statistics.
    'grpc.enable_channelz': 0,
  });
  const meta: UntypedServiceImplementation = {};
  for (const name of Object.keys(metaService) as (keyof CallerHandlers)[]) {
    meta[name] = unary(name, handlers[name] as (req: unknown, caller: Identity) => Promise<unknown>, metrics, security, log);
  }
  server.addService(metaService, meta);
  const { host: listenHost, port } = parseHostPort(listen, 'listen');
  const listener = await MetaListener.listen(listenHost, port, security, server, (socket, first, refused) => serveRaftConnection(socket, first, refused, {
    security, receive: (batch) => host.receive(batch), onClosed: (err) => asBasaltError(err, log),
  }));
  return { grpc: server, listener };
}

function unary(method: string, handler: (req: unknown, caller: Identity) => Promise<unknown>, metrics: MetaMetrics, security: TransportSecurity, log: (line: string) => void) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    let reply: Promise<unknown>;
    try {
      reply = handler(call.request, security.peerIdentityOfCall(call));
    } catch (err) {
      reply = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    reply.then(
      (value) => {
        metrics.countRpc(method, 'OK');
        callback(null, value);
      },
      (err: unknown) => {
        const e = asBasaltError(err, log);
        metrics.countRpc(method, e.code);
        callback(toGrpcError(e));
      },
    );
  };
}

/** A non-Basalt error here is a bug in metad: logged with its stack, reported as BASALT_IO. */
function asBasaltError(err: unknown, log: (line: string) => void): BasaltError {
  if (err instanceof BasaltError) return err;
  log(`metad: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return new BasaltError(ErrorCode.Io, `internal error: ${err instanceof Error ? err.message : String(err)}`);
}
