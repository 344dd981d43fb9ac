import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { createSecureContext } from 'node:tls';
import { invalidArgument, limits } from '@basalt/stdx';
import type { BlockSizes } from '../protocol/index.js';
import type { VolumeProvider } from '../block-device.js';
import { NbdConnection } from './connection.js';
import { DevicePool } from './device-pool.js';
import { AgentMetrics } from './metrics.js';
import { WriteCacheBudget, type WriteCacheMode } from '../write-cache.js';

export type TlsOptions = {
  /** PEM certificate chain and private key of the server. */
  cert: string | Buffer;
  key: string | Buffer;
  /** PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS). */
  ca?: string | Buffer;
  /** Refuse every option but STARTTLS until TLS is up, so no plaintext client gets in. */
  required: boolean;
};

export type NbdServerOptions = {
  provider: VolumeProvider;
  /** Export every volume read-only (no writer lease is taken). */
  readOnly?: boolean;
  /** Take writer leases even when another writer holds them (that writer is fenced). */
  forceTakeover?: boolean;
  tls?: TlsOptions;
  /** The write-back cache of writable volumes (write-cache.ts); default 'writethrough' (off). */
  writeCache?: WriteCacheMode;
  metrics?: AgentMetrics;
  log?: (message: string) => void;
};

/** Advertised block sizes: any alignment works; 4 KiB is the volume's checksum block. */
export const blockSizes: BlockSizes = {
  minimumBytes: 1,
  preferredBytes: limits.checksumBlockBytes,
  maximumBytes: limits.nbdRequestBytesMax,
};

/** The NBD listener: accepts connections and hands each to an NbdConnection. */
export class NbdServer {
  readonly metrics: AgentMetrics;
  private readonly server: Server;
  private readonly connections = new Set<NbdConnection>();
  private nextId = 1;

  constructor(private readonly options: NbdServerOptions) {
    if (options.tls?.required === true && (options.tls.cert === '' || options.tls.key === '')) {
      throw invalidArgument('TLS is required but no certificate and key were given');
    }
    this.metrics = options.metrics ?? new AgentMetrics({ defaultMetrics: false });
    const log = options.log ?? ((m: string) => console.error(m));
    const budget = new WriteCacheBudget(limits.agentWriteCacheBytesMax, limits.agentWriteCacheWritesMax);
    this.metrics.watchWriteCache(budget);
    const pool = new DevicePool(options.provider, { readOnly: options.readOnly ?? false, forceTakeover: options.forceTakeover ?? false }, {
      mode: options.writeCache ?? 'writethrough',
      budget,
      onFailure: (volume, err) => {
        this.metrics.writeCacheFailed(volume);
        log(`nbd ${volume}: ${err.message}; every later FLUSH on this volume fails until it is reopened`);
      },
    });
    const tls = options.tls === undefined ? undefined : { context: createSecureContext({ cert: options.tls.cert, key: options.tls.key, ca: options.tls.ca, minVersion: 'TLSv1.2' }), requestCert: options.tls.ca !== undefined };
    // One for every connection: a read's bytes are copied out of it in the read's callback.
    const readStaging = Buffer.allocUnsafe(limits.connectionReadStagingBytes);
    this.server = createServer({ noDelay: true }, (socket) => {
      const conn = new NbdConnection(socket, {
        id: String(this.nextId++),
        provider: options.provider,
        pool,
        metrics: this.metrics,
        negotiation: { tlsAvailable: tls !== undefined, tlsRequired: options.tls?.required ?? false, readOnly: options.readOnly ?? false, blockSizes },
        tls,
        readStaging,
        log,
      });
      this.connections.add(conn);
      void conn.closed.then(() => this.connections.delete(conn));
    });
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops listening, drops every connection and waits until their devices are released. */
  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const conns = [...this.connections];
    for (const c of conns) c.hardClose('server shutting down');
    await Promise.all(conns.map((c) => c.closed));
    await stopped;
  }
}
