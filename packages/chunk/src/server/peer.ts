import { DataConnection, DataFlag, DataOp, TransportSecurity, type BlockStamps, type CopyResult, type DataRequest, type DataResponse, type ExtentRef, type StampsResult } from '@basalt/wire';
import type { Credentials } from './credentials.js';

/**
 * The primary's connection to one secondary. Requests go out in call order over one connection,
 * so a secondary applies them in the primary's order. A dead connection is replaced on the next
 * send; requests it carried have failed (and their secondary is dropped).
 *
 * The connection comes from `connect`: a TCP DataConnection in chunkd, the simulated network in
 * packages/sim (which must keep the same promise: one ordered stream, failed as a whole).
 */
export interface PeerConnection {
  readonly closed: boolean;
  send(req: DataRequest): Promise<Extract<DataResponse, { ok: true }>>;
  stamps(extent: ExtentRef, offset: number, length: number, options: { verify?: boolean; forwarded?: boolean }): Promise<StampsResult>;
  copy(extent: ExtentRef, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps, floorEpoch: number): Promise<CopyResult>;
  close(): void;
}

export type PeerConnect = (address: string, requestTimeoutMs: number) => Promise<PeerConnection>;

/** Peer links over TCP secured as the server's own listener is (mutual TLS between chunk servers). */
export function securePeerConnect(security: TransportSecurity): PeerConnect {
  return (address, requestTimeoutMs) => DataConnection.connect(address, { requestTimeoutMs, connectTimeoutMs: requestTimeoutMs, security });
}

/** Plain TCP peer links. */
export const tcpPeerConnect: PeerConnect = securePeerConnect(TransportSecurity.insecure());

export class Peer {
  private conn: PeerConnection | undefined;
  private connecting: Promise<PeerConnection> | undefined;

  constructor(
    readonly address: string,
    private readonly requestTimeoutMs: number,
    private readonly connect: PeerConnect = tcpPeerConnect,
    /** Capabilities: attaches this server's peer capability and the extent's signed state to each request. */
    private readonly credentials?: Credentials,
  ) {}

  send(req: DataRequest): Promise<Extract<DataResponse, { ok: true }>> {
    const extent = this.auth(req.extent);
    return this.connection((c) => c.send(extent === req.extent ? req : { ...req, extent }));
  }

  /** DataConnection.stamps over this ordered connection. */
  stamps(extent: ExtentRef, offset: number, length: number, options: { verify?: boolean; forwarded?: boolean } = {}): Promise<StampsResult> {
    const ext = this.auth(extent);
    return this.connection((c) => c.stamps(ext, offset, length, options));
  }

  /** DataConnection.copy over this ordered connection (in order with forwarded writes). */
  copy(extent: ExtentRef, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps, floorEpoch: number): Promise<CopyResult> {
    const ext = this.auth(extent);
    return this.connection((c) => c.copy(ext, offset, data, crcs, stamps, floorEpoch));
  }

  /** A FLUSH as the primary forwards it, over this ordered connection: durable are the copies and writes sent before it. */
  flush(extent: ExtentRef): Promise<unknown> {
    return this.send({ op: DataOp.Flush, flags: DataFlag.Forwarded, requestId: 0, extent, offset: 0, length: 0 });
  }

  private auth(extent: ExtentRef): ExtentRef {
    return this.credentials === undefined ? extent : this.credentials.withPeerAuth(extent);
  }

  /** Runs use on the live connection, synchronously when there is one (the call order is the send order). */
  private connection<T>(use: (c: PeerConnection) => Promise<T>): Promise<T> {
    if (this.conn !== undefined && !this.conn.closed) return use(this.conn);
    this.connecting ??= this.connect(this.address, this.requestTimeoutMs).then(
      (c) => {
        this.conn = c;
        this.connecting = undefined;
        return c;
      },
      (err: unknown) => {
        this.connecting = undefined;
        throw err;
      },
    );
    return this.connecting.then(use);
  }

  close(): void {
    this.conn?.close();
  }
}
