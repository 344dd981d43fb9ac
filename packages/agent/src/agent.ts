import { serveMetrics, TransportSecurity } from '@basalt/wire';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { VolumeProvider } from './block-device.js';
import { AgentMetrics } from './server/metrics.js';
import { NbdServer } from './server/nbd-server.js';
import type { TlsOptions } from './server/nbd-server.js';
import type { WriteCacheMode } from './write-cache.js';

export type AgentOptions = {
  provider: VolumeProvider;
  listen: { host: string; port: number };
  /** Serve GET /metrics here (same host as `listen`); undefined: no metrics endpoint. */
  metricsPort: number | undefined;
  /** The process's transport security for the metrics page, HTTPS when `tls` (default plain HTTP). */
  metricsSecurity?: { readonly security: TransportSecurity; readonly tls: boolean };
  readOnly: boolean;
  forceTakeover: boolean;
  tls: TlsOptions | undefined;
  writeCache: WriteCacheMode;
  log: (message: string) => void;
  /** The agent's metrics, when the caller registers its own beside them (the SDK's ClientMetrics); default: new ones. */
  metrics?: AgentMetrics;
  /** Metrics kept elsewhere (the volume thread's SDK), in the Prometheus text format, served after the agent's. */
  moreMetrics?: () => Promise<string>;
};

export type RunningNbdAgent = {
  nbd: AddressInfo;
  metrics: AddressInfo | undefined;
  server: NbdServer;
  /** Stops accepting, drops connections, releases volumes, stops the metrics endpoint. */
  close(): Promise<void>;
};

/** The basalt-agent process minus argument parsing: an NBD listener and its metrics endpoint. */
export async function startNbdAgent(options: AgentOptions): Promise<RunningNbdAgent> {
  const metrics = options.metrics ?? new AgentMetrics({ defaultMetrics: true });
  const server = new NbdServer({ provider: options.provider, readOnly: options.readOnly, forceTakeover: options.forceTakeover, tls: options.tls, writeCache: options.writeCache, metrics, log: options.log });
  const nbd = await server.listen(options.listen.port, options.listen.host);
  let http: { server: Server; address: AddressInfo } | undefined;
  try {
    if (options.metricsPort !== undefined) {
      const { security, tls } = options.metricsSecurity ?? { security: TransportSecurity.insecure(), tls: false };
      const more = options.moreMetrics;
      const source = more === undefined ? metrics.registry : { contentType: metrics.registry.contentType, metrics: async () => `${await metrics.registry.metrics()}${await more()}` };
      http = await serveMetrics(source, { host: options.listen.host, port: options.metricsPort, security, tls });
    }
  } catch (err) {
    await server.close();
    throw err;
  }
  return {
    nbd,
    metrics: http?.address,
    server,
    close: async () => {
      await server.close();
      if (http !== undefined) await new Promise<void>((resolve) => http.server.close(() => resolve()));
    },
  };
}
