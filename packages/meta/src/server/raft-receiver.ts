import type { BasaltError } from '@basalt/stdx';
import { decodeRaftBatch, encodeRaftAck, raftBatchSplitter, raftFramingError, SocketBatch, type DataSocket, type raftpb, type TransportSecurity } from '@basalt/wire';
import { authorizeCall, raftStreamMethod, unwrap } from '../state/index.js';

export interface RaftReceiverOptions {
  /** The member's TransportSecurity: who the peer is, and whether its certificate is revoked. */
  security: TransportSecurity;
  /** Steps a batch into Raft; throws a BasaltError for a batch it refuses (another cluster's). */
  receive(batch: raftpb.MessageBatch): void;
  /** Why the connection is closed: a refused peer or batch (a BasaltError), a framing error (BASALT_PROTOCOL), or a bug (any other error). */
  onClosed(err: unknown): void;
}

/**
 * Serves one Raft connection (the sender is transport.ts), as MetaListener hands it over with
 * `first`, the bytes already read, and `refused`, the listener's verdict on the peer's
 * certificate. The peer must prove an identity that may speak Raft (state/authz.ts: a metad
 * member, or an admin) and its certificate must still not be revoked when each batch is read.
 * Batches are stepped into Raft in the turn they are read and those that ask are acknowledged, in
 * order. A refused peer, a batch Raft refuses, or a framing error closes the connection before
 * anything more is stepped (the sender reports this member unreachable and opens a new one for
 * its next batch).
 */
export function serveRaftConnection(socket: DataSocket, first: Buffer, refused: BasaltError | undefined, opts: RaftReceiverOptions): void {
  let serial: string | undefined;
  try {
    if (refused !== undefined) throw refused;
    unwrap(authorizeCall(raftStreamMethod, opts.security.peerIdentityOfSocket(socket)));
    serial = opts.security.peerSerial(socket);
  } catch (err) {
    socket.destroy();
    opts.onClosed(err);
    return;
  }
  const splitter = raftBatchSplitter();
  const batch = new SocketBatch(socket);
  let closed = false;
  const close = (err: unknown): void => {
    if (closed) return;
    closed = true;
    socket.destroy();
    opts.onClosed(err);
  };
  const onData = (chunk: Buffer): void => {
    if (closed) return;
    const split = splitter.push(chunk);
    try {
      for (const frame of split.frames) {
        if (serial !== undefined) opts.security.assertNotRevoked(serial);
        const b = decodeRaftBatch(frame);
        opts.receive(b);
        if (b.ackRequested) batch.write(encodeRaftAck({ seq: b.seq }));
      }
    } catch (err) {
      return close(err);
    }
    if (split.kind === 'error') close(raftFramingError(split.message));
  };
  socket.on('data', onData);
  socket.on('error', () => undefined);
  socket.on('end', () => {
    if (splitter.pendingBytes > 0) close(raftFramingError(`connection ended inside a frame (${splitter.pendingBytes} bytes of it received)`));
  });
  socket.resume();
  onData(first);
}
