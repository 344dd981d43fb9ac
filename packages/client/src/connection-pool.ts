import { BasaltError, ErrorCode } from '@basalt/stdx';
import { DataConnection, type FramePool, type TransportSecurity } from '@basalt/wire';

/**
 * One pipelined data connection per chunk server address, opened on first use and replaced
 * after it fails. Concurrent callers share a connection attempt.
 */
export class ConnectionPool {
  private readonly connections = new Map<string, Promise<DataConnection>>();
  /** The connections of `connections` that are open, for callers that need no promise turn. */
  private readonly open = new Map<string, DataConnection>();
  private closed = false;

  constructor(
    private readonly requestTimeoutMs: number,
    private readonly security?: TransportSecurity,
    private readonly framePool?: FramePool,
  ) {}

  /** The open connection to `address`, or undefined when there is none yet (then use get). */
  ready(address: string): DataConnection | undefined {
    return this.open.get(address);
  }

  get(address: string): Promise<DataConnection> {
    if (this.closed) return Promise.reject(new BasaltError(ErrorCode.Closed, 'the client is closed'));
    const existing = this.connections.get(address);
    if (existing !== undefined) return existing;
    const opening = DataConnection.connect(address, { requestTimeoutMs: this.requestTimeoutMs, ...(this.security !== undefined && { security: this.security }), ...(this.framePool !== undefined && { framePool: this.framePool }) }).then(
      (conn) => {
        if (this.connections.get(address) === opening) this.open.set(address, conn);
        conn.onClose(() => {
          if (this.connections.get(address) === opening) this.connections.delete(address);
          if (this.open.get(address) === conn) this.open.delete(address);
        });
        return conn;
      },
      (err: unknown) => {
        this.connections.delete(address);
        throw err;
      },
    );
    this.connections.set(address, opening);
    return opening;
  }

  close(): void {
    this.closed = true;
    for (const opening of this.connections.values()) {
      opening.then((c) => c.close(), () => undefined);
    }
    this.connections.clear();
    this.open.clear();
  }
}
