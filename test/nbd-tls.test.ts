/**
 * NBD over TLS (NBD_OPT_STARTTLS): with TLS required, plaintext clients get nothing and
 * libnbd's nbdinfo/nbdcopy with certificates (made with openssl here) get in. Mutual TLS: the
 * agent also checks the client's certificate against the CA.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { Cmd, Opt, Rep } from '@basalt/agent/protocol';
import { FileVolumeStore, run, runOk, sha256File, startAgent, tempDir, writeRandomFile } from './nbd-support.js';
import { requireCommands } from './lib/process.js';
import type { RunningAgent } from './nbd-support.js';
import { RawNbd, exportData } from './nbd-raw-client.js';

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, in libnbd's layout. */
async function makeCertificates(dir: string): Promise<{ clientDir: string; ca: string; serverCert: string; serverKey: string }> {
  const clientDir = join(dir, 'client');
  mkdirSync(clientDir);
  const ossl = (...args: string[]) => runOk('openssl', args);
  const ca = join(clientDir, 'ca-cert.pem');
  const caKey = join(dir, 'ca-key.pem');
  await ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=basalt-test-ca');
  const issue = async (name: string, keyOut: string, certOut: string, ext: string) => {
    const csr = join(dir, `${name}.csr`);
    const extFile = join(dir, `${name}.ext`);
    writeFileSync(extFile, ext);
    await ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyOut, '-out', csr, '-subj', `/CN=${name}`);
    await ossl('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', certOut, '-days', '2', '-extfile', extFile);
  };
  const serverCert = join(dir, 'server-cert.pem');
  const serverKey = join(dir, 'server-key.pem');
  await issue('localhost', serverKey, serverCert, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await issue('basalt-client', join(clientDir, 'client-key.pem'), join(clientDir, 'client-cert.pem'), 'extendedKeyUsage=clientAuth\n');
  return { clientDir, ca, serverCert, serverKey };
}

describe('NBD over TLS', () => {
  const tmp = tempDir('nbd-tls');
  const store = new FileVolumeStore(tmp.dir);
  let agent: RunningAgent;
  let certs: Awaited<ReturnType<typeof makeCertificates>>;

  beforeAll(async () => {
    requireCommands('openssl', 'nbdinfo', 'nbdcopy');
    certs = await makeCertificates(tmp.dir);
    store.create('secret', 16 * MiB);
    agent = await startAgent({
      provider: store.provider(),
      tls: { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey), ca: readFileSync(certs.ca), required: true },
    });
  });
  afterAll(async () => {
    await agent?.stop();
    tmp.cleanup();
  });

  const tlsUri = (volume: string) => `nbds://127.0.0.1:${agent.port}/${volume}?tls-certificates=${certs.clientDir}`;

  it('refuses a plaintext nbdinfo', async () => {
    const r = await run('nbdinfo', ['--json', `nbd://127.0.0.1:${agent.port}/secret`]);
    expect(r.code).not.toBe(0);
    // libnbd reports NBD_REP_ERR_TLS_REQD to GO as "Operation not supported".
    expect(r.stderr).toMatch(/nbd_opt_go: server replied with error/);
  });

  it('answers every plaintext option but STARTTLS with ERR_TLS_REQD and drops a plaintext EXPORT_NAME', async () => {
    const c = await RawNbd.connect(agent.port);
    await c.handshake();
    for (const opt of [Opt.List, Opt.Info, Opt.Go, Opt.StructuredReply, 77]) {
      const r = await c.option(opt, opt === Opt.Info || opt === Opt.Go ? exportData('secret') : undefined);
      expect(r.map((x) => x.type)).toEqual([Rep.ErrTlsReqd]);
    }
    c.sendOption(Opt.ExportName, Buffer.from('secret'));
    expect(await c.closedWithin(10_000)).toBe(true);
  });

  it('lets nbdinfo with certificates in, over TLS', async () => {
    const info = JSON.parse((await runOk('nbdinfo', ['--json', tlsUri('secret')])).stdout);
    expect(info.TLS).toBe(true);
    expect(info.exports[0]['export-size']).toBe(16 * MiB);
    expect((await run('nbdinfo', ['--is', 'tls', tlsUri('secret')])).code).toBe(0);
  });

  it('moves data intact over TLS with nbdcopy', async () => {
    const src = join(tmp.dir, 'src.raw');
    const out = join(tmp.dir, 'out.raw');
    writeRandomFile(src, 16 * MiB, 3);
    await runOk('nbdcopy', [src, tlsUri('secret')]);
    await runOk('nbdcopy', [tlsUri('secret'), out]);
    expect(await sha256File(out)).toBe(await sha256File(src));
  });

  it('rejects a TLS client without a certificate signed by the CA (mutual TLS)', async () => {
    const c = await RawNbd.connect(agent.port);
    await c.handshake();
    await expect(c.go('secret', { tls: { ca: readFileSync(certs.ca), servername: 'localhost' } })).rejects.toThrow();
    c.destroy();
    const ok = await RawNbd.connect(agent.port);
    await ok.handshake();
    const tls = {
      ca: readFileSync(certs.ca),
      cert: readFileSync(join(certs.clientDir, 'client-cert.pem')),
      key: readFileSync(join(certs.clientDir, 'client-key.pem')),
      servername: 'localhost',
    };
    await ok.go('secret', { tls });
    ok.request(Cmd.Read, 0, 1n, 0n, 16);
    expect((await ok.reply()).error).toBe(0);
    ok.destroy();
  });
});
