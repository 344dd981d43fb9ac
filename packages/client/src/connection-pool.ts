import { BasaltError, ErrorCode } from '@basalt/stdx';
import { DataConnection } from '@basalt/wire';

/**
 * One pipelined data connection per chunk server address, opened on first use and replaced
 * after it fails. Concurrent callers share a connection attempt.
 */
export class ConnectionPool {
  private readonly connections = new Map<string, Promise<DataConnection>>();
  private closed = false;

  constructor(private readonly requestTimeoutMs: number) {}

  get(address: string): Promise<DataConnection> {
    if (this.closed) return Promise.reject(new BasaltError(ErrorCode.Closed, 'the client is closed'));
    const existing = this.connections.get(address);
    if (existing !== undefined) return existing;
    const opening = DataConnection.connect(address, { requestTimeoutMs: this.requestTimeoutMs }).then(
      (conn) => {
        conn.onClose(() => {
          if (this.connections.get(address) === opening) this.connections.delete(address);
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
  }
}
