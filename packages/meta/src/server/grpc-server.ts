import { Server } from '@grpc/grpc-js';
import type { sendUnaryData, ServerDuplexStream, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { BasaltError, ErrorCode, limits, type Identity } from '@basalt/stdx';
import { metaService, raftService, toGrpcError } from '@basalt/wire';
import type { raftpb, TransportSecurity } from '@basalt/wire';
import { authorizeCall, raftStreamMethod, unwrap } from '../state/index.js';
import type { CallerHandlers } from './meta-api.js';
import type { MetaMetrics } from './metrics.js';
import type { RaftHost } from './raft-host.js';

/**
 * Binds one gRPC server with the Meta and Raft services on host:port. With mutual TLS every call
 * and Raft stream first proves its peer's identity (`security.peerIdentityOfCall`): a certificate
 * without one, or a revoked one, gets BASALT_UNAUTHENTICATED. The identity is the caller the
 * handlers authorize.
 */
export async function startGrpcServer(listen: string, handlers: CallerHandlers, host: RaftHost, metrics: MetaMetrics, security: TransportSecurity, log: (line: string) => void): Promise<Server> {
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
  server.addService(raftService, {
    // Every batch is stepped into Raft, in order, and acknowledged when it asks (or has no seq: a
    // member of the previous version waits for an ack per batch); a batch Raft refuses (another
    // cluster's) ends the stream with the error, so the sender reports this member unreachable.
    // A peer that may not speak Raft (state/authz.ts) has its stream ended at once.
    stream: (call: ServerDuplexStream<raftpb.MessageBatch, raftpb.ISendAck>) => {
      let failed = false;
      try {
        unwrap(authorizeCall(raftStreamMethod, security.peerIdentityOfCall(call)));
      } catch (err) {
        failed = true;
        call.emit('error', toGrpcError(asBasaltError(err, log)));
      }
      call.on('data', (batch: raftpb.MessageBatch) => {
        if (failed) return;
        try {
          security.peerIdentityOfCall(call);
          host.receive(batch);
          if (batch.seq === 0 || batch.ackRequested) call.write({ seq: batch.seq });
        } catch (err) {
          failed = true;
          call.emit('error', toGrpcError(asBasaltError(err, log)));
        }
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, security.serverCredentials(), (err, port) => (err ? reject(err) : resolve(port)));
  });
  return server;
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
