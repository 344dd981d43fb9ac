import type net from 'node:net';
import { ServerCredentials, type Server } from '@grpc/grpc-js';
import type { BasaltError } from '@basalt/stdx';
import { metaAlpnProtocol, metaCallMagic, raftAlpnProtocol, raftBatchMagic, type DataSocket, type TransportSecurity } from '@basalt/wire';

/** What the first bytes of a connection say it is. */
const magicBytes = 4;

/** What serves a framed connection, given the bytes already read and the listener's verdict on the peer. */
export type FramedConnectionHandler = (socket: DataSocket, first: Buffer, refused: BasaltError | undefined) => void;

/**
 * metad's one port: the Meta API (gRPC over HTTP/2, and as frames, packages/wire
 * meta-frames.ts) and the Raft transport (frames, raft-frames.ts), told apart by the first four
 * bytes a connection carries (after the TLS handshake when secure): the Raft batch magic, the
 * Meta call magic, or anything else, which goes to grpc-js (an HTTP/2 client starts with "PRI ").
 * The listener is the member's TransportSecurity's (mutual TLS offering ALPN h2 and the framed
 * protocols' names, reloaded with the rest, or plain TCP), so grpc-js serves connections already
 * decrypted and still sees each one's peer certificate (`peerIdentityOfCall`). A framed
 * connection is handed over with the identity check's outcome (`refused`: no trusted
 * certificate, none with an identity, or a revoked one).
 */
export class MetaListener {
  private constructor(
    private readonly server: net.Server,
    private readonly framedSockets: Set<DataSocket>,
  ) {}

  /** Listens on host:port (host as node:net takes it, no brackets; port 0: any free one, see `port`). */
  static async listen(host: string, port: number, security: TransportSecurity, grpc: Server, framed: { raft: FramedConnectionHandler; meta: FramedConnectionHandler }): Promise<MetaListener> {
    const injector = grpc.createConnectionInjector(ServerCredentials.createInsecure());
    const byMagic = new Map([[raftBatchMagic, framed.raft], [metaCallMagic, framed.meta]]);
    const framedSockets = new Set<DataSocket>();
    const server = security.createDataServer((socket, refused) => {
      socket.setNoDelay(true);
      sniff(socket, (head) => {
        const serve = byMagic.get(head.readUInt32BE(0));
        if (serve === undefined) {
          socket.unshift(head);
          injector.injectConnection(socket);
          return;
        }
        framedSockets.add(socket);
        socket.once('close', () => framedSockets.delete(socket));
        serve(socket, head, refused);
      });
    }, { alpnProtocols: ['h2', raftAlpnProtocol, metaAlpnProtocol], allowHalfOpen: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new MetaListener(server, framedSockets);
  }

  /** The port listened on (the one asked for, or the one picked for port 0). */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Stops accepting and closes the framed connections; gRPC's own are closed by its Server's shutdown. */
  close(): void {
    this.server.close();
    for (const s of this.framedSockets) s.destroy();
  }
}

/** Reads a connection until it has `magicBytes` bytes, pauses it and hands them over. */
function sniff(socket: DataSocket, then: (head: Buffer) => void): void {
  const got: Buffer[] = [];
  let bytes = 0;
  const onData = (chunk: Buffer): void => {
    got.push(chunk);
    bytes += chunk.length;
    if (bytes < magicBytes) return;
    socket.off('data', onData);
    socket.pause();
    then(Buffer.concat(got, bytes));
  };
  socket.on('data', onData);
  socket.on('error', () => undefined);
}
