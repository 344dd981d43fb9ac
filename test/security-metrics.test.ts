import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '@basalt/stdx';
import { serveMetrics, TransportSecurity } from '@basalt/wire';
import { createCa, issueCert } from '@basalt/cli';

/**
 * `--metrics-tls`: a process's /metrics over HTTPS under its own certificate, for holders of a
 * certificate of the cluster's CA only (a real listener on loopback; certificates made in-process).
 */
const dir = mkdtempSync(join(tmpdir(), 'basalt-metrics-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const page = { contentType: 'text/plain; version=0.0.4', metrics: () => Promise.resolve('basalt_test_metric 1\n') };

function files(name: string, pems: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, text] of Object.entries(pems)) {
    out[k] = join(dir, `${name}-${k}.pem`);
    writeFileSync(out[k], text);
  }
  return out;
}

/** GET /metrics over HTTPS: the status and body, or the error that ended the request. */
function fetchTls(port: number, options: RequestOptions): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', servername: 'localhost', ...options }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (err) => resolve({ error: err.message }));
    req.end();
  });
}

describe('metrics over TLS', () => {
  it('serve holders of a cluster certificate only, refuse a revoked one, and stay plain HTTP unless asked', async () => {
    const ca = await createCa('test CA', { days: 1 });
    const other = await createCa('another CA', { days: 1 });
    const server = await issueCert(ca, { identity: { role: 'chunkd', name: 'c1' }, hosts: ['localhost', '127.0.0.1'], validity: { days: 1 } });
    const scraper = await issueCert(ca, { identity: { role: 'admin', name: 'prometheus' }, hosts: [], validity: { days: 1 } });
    const stranger = await issueCert(other, { identity: { role: 'admin', name: 'prometheus' }, hosts: [], validity: { days: 1 } });
    const own = files('server', { ca: ca.certPem, cert: server.certPem, key: server.keyPem });
    const security = TransportSecurity.fromFiles({ ca: own.ca!, cert: own.cert!, key: own.key! });

    const { server: https, address } = await serveMetrics(page, { host: '127.0.0.1', port: 0, security, tls: true });
    try {
      const trusted = { ca: ca.certPem, cert: scraper.certPem, key: scraper.keyPem };
      expect(await fetchTls(address.port, trusted)).toEqual({ status: 200, body: 'basalt_test_metric 1\n' });
      // No client certificate, or one of another CA: the handshake fails, nothing is served.
      expect(await fetchTls(address.port, { ca: ca.certPem })).toHaveProperty('error');
      expect(await fetchTls(address.port, { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem })).toHaveProperty('error');
      // A revoked certificate gets a 403 that says why.
      security.setRevokedSerials([new X509Certificate(scraper.certPem).serialNumber]);
      const revoked = await fetchTls(address.port, trusted);
      expect(revoked).toMatchObject({ status: 403 });
      expect((revoked as { body: string }).body).toMatch(/revoked/);
    } finally {
      https.close();
    }

    const plain = await serveMetrics(page, { host: '127.0.0.1', port: 0, security, tls: false });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        httpGet(`http://127.0.0.1:${plain.address.port}/metrics`, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
      expect(body).toBe('basalt_test_metric 1\n');
    } finally {
      plain.server.close();
    }
  });

  it('are refused at start by a process without TLS files, with a typed error', async () => {
    await expect(serveMetrics(page, { host: '127.0.0.1', port: 0, security: TransportSecurity.insecure(), tls: true })).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
  });
});
