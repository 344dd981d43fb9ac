import { DataConnection, type DataRequest, type DataResponse } from '@basalt/wire';

/**
 * The primary's connection to one secondary. Requests go out in call order over one TCP
 * connection, so a secondary applies them in the primary's order. A dead connection is
 * replaced on the next send; requests it carried have failed (and their secondary is dropped).
 */
export class Peer {
  private conn: DataConnection | undefined;
  private connecting: Promise<DataConnection> | undefined;

  constructor(
    readonly address: string,
    private readonly requestTimeoutMs: number,
  ) {}

  send(req: DataRequest): Promise<Extract<DataResponse, { ok: true }>> {
    if (this.conn !== undefined && !this.conn.closed) return this.conn.send(req);
    this.connecting ??= DataConnection.connect(this.address, { requestTimeoutMs: this.requestTimeoutMs, connectTimeoutMs: this.requestTimeoutMs }).then(
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
    return this.connecting.then((c) => c.send(req));
  }

  close(): void {
    this.conn?.close();
  }
}
