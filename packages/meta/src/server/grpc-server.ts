import { Server } from '@grpc/grpc-js';
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { limits, type Identity } from '@basalt/stdx';
import { metaService, parseSocketAddress, toGrpcError } from '@basalt/wire';
import type { TransportSecurity } from '@basalt/wire';
import type { CallerHandlers } from './meta-api.js';
import { MetaListener } from './meta-listener.js';
import type { MetaMetrics } from './metrics.js';
import type { RaftHost } from './raft-host.js';
import { asBasaltError, runMetaCall } from './meta-call.js';
import { serveMetaConnection } from './meta-call-receiver.js';
import { serveRaftConnection } from './raft-receiver.js';

/** The member's port: the gRPC server of the Meta API and the listener that also takes Raft connections. */
export interface MetaPort {
  readonly grpc: Server;
  readonly listener: MetaListener;
}

/**
 * Serves the Meta API (over gRPC, and as frames: meta-call-receiver.ts) and the Raft transport on
 * host:port (MetaListener). With mutual TLS every call and Raft connection first proves its
 * peer's identity (`security.peerIdentityOfCall`; `serveMetaConnection` and
 * `serveRaftConnection` for framed connections): a certificate without one, or a revoked one,
 * gets BASALT_UNAUTHENTICATED. The identity is the caller the handlers authorize.
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
  const { host: listenHost, port } = parseSocketAddress(listen, 'listen');
  const listener = await MetaListener.listen(listenHost, port, security, server, {
    raft: (socket, first, refused) => serveRaftConnection(socket, first, refused, {
      security, receive: (batch) => host.receive(batch), onClosed: (err) => asBasaltError(err, log),
    }),
    meta: (socket, first, refused) => serveMetaConnection(socket, first, refused, { security, handlers, metrics, log }),
  });
  return { grpc: server, listener };
}

function unary(method: string, handler: (req: unknown, caller: Identity) => Promise<unknown>, metrics: MetaMetrics, security: TransportSecurity, log: (line: string) => void) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    void runMetaCall(method, () => handler(call.request, security.peerIdentityOfCall(call)), metrics, log).then((outcome) => {
      if (outcome.ok) callback(null, outcome.reply);
      else callback(toGrpcError(outcome.error));
    });
  };
}
