import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TransportSecurity } from './transport-security.js';

/** What a /metrics page shows: a prom-client Registry is one. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface MetricsServerOptions {
  readonly host: string;
  readonly port: number;
  /** The process's transport security; with `tls` the page is HTTPS for holders of a cluster certificate. */
  readonly security: TransportSecurity;
  readonly tls: boolean;
  /** Runs before each scrape (gauges read from their sources). */
  readonly beforeScrape?: () => void;
}

/** Serves GET /metrics in the Prometheus text format, for metad, chunkd and the agent alike; everything else is 404. */
export function serveMetrics(source: MetricsSource, o: MetricsServerOptions): Promise<{ server: Server; address: AddressInfo }> {
  return new Promise((resolve, reject) => {
    const server = o.security.createMetricsServer(o.tls, (req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end('not found: try GET /metrics\n');
        return;
      }
      o.beforeScrape?.();
      source.metrics().then(
        (text) => res.writeHead(200, { 'content-type': source.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve({ server, address: server.address() as AddressInfo }));
  });
}
