import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, Prng } from '@basalt/stdx';
import { DataConnection, DataOp, MetaClient, pingExtent, TransportSecurity } from '@basalt/wire';
import type { TlsFiles } from '@basalt/wire';
import { ClientMetrics, connect } from '@basalt/client';
import { createCa, issueCert, serialOf, tlsFilesOf } from '@basalt/cli';
import { freePortRange, freePorts, ProcessScope, runCli, waitFor, waitForLog } from './lib/process.js';
import { RawNbd } from './nbd-raw-client.js';

/**
 * Transport security over real processes: a local cluster from `basalt up` (secure by default,
 * no flags), then what a peer without the right certificate gets from each listener, and a CA
 * rotation (certs rotate + SIGHUP to every process) under live SDK I/O.
 */
const scope = new ProcessScope();
let dir = '';
let file: ClusterJson;

interface ClusterJson {
  dir: string;
  insecure?: boolean;
  tls?: { dir: string; ca: string; cert: string; key: string };
  metad: { id: string; address: string; pid: number }[];
  chunkd: { id: string; address: string; pid: number }[];
  agent: { pid: number; nbd: string };
}

const admin = { role: 'admin', name: 'admin' } as const;

beforeAll(async () => {
  dir = scope.tempDir('basalt-security-tls');
  const base = await freePortRange(41);
  const [nbd] = await freePorts(1);
  const up = await runCli(['up', '--detach', '--dir', dir, '--base-port', String(base), '--nbd-port', String(nbd)], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  expect(up.stdout).toMatch(/security: mutual TLS on every link/);
  file = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterJson;
}, 320_000);

afterAll(async () => {
  if (dir !== '' && existsSync(join(dir, 'cluster.json'))) await runCli(['down', '--dir', dir]);
  await scope.cleanup();
});

/** What a MetaClient with these credentials (or none) gets from a Status call to one member. */
async function metaOutcome(security: TransportSecurity, address: string): Promise<string> {
  const client = new MetaClient({ endpoints: [address], security, callTimeoutMs: 3_000, attemptTimeoutMs: 3_000 });
  try {
    await client.call('status', {}, { address });
    return 'ok';
  } catch (err) {
    return (err as BasaltError).code;
  } finally {
    client.close();
  }
}

/** What a data connection with these credentials (or none) gets from an INFO to a chunk server. */
async function dataOutcome(security: TransportSecurity, address: string): Promise<string> {
  let conn: DataConnection | undefined;
  try {
    conn = await DataConnection.connect(address, { security, connectTimeoutMs: 3_000, requestTimeoutMs: 3_000, probeAfterMs: 0 });
    await conn.send({ op: DataOp.Ping, flags: 0, requestId: 0, extent: pingExtent, offset: 0, length: 0 });
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(BasaltError);
    return (err as BasaltError).code;
  } finally {
    conn?.close();
  }
}

/** Writes a certificate and key for `identity` signed by `ca` into the test's folder; the trust bundle is the cluster's. */
async function credentials(name: string, ca: { certPem: string; keyPem: string }, validity: { notBeforeMs?: number; days: number }): Promise<TlsFiles> {
  const issued = await issueCert(ca, { identity: admin, hosts: [], validity });
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  writeFileSync(cert, issued.certPem);
  writeFileSync(key, issued.keyPem);
  return { ca: file.tls!.ca, cert, key };
}

function clusterCa(): { certPem: string; keyPem: string } {
  return { certPem: readFileSync(join(file.tls!.dir, 'ca.pem'), 'utf8'), keyPem: readFileSync(join(file.tls!.dir, 'ca-key.pem'), 'utf8') };
}

describe('a secure cluster (basalt up without flags)', () => {
  it('records its TLS files in cluster.json and basalt status says mutual TLS', async () => {
    expect(file.insecure).toBeUndefined();
    expect(file.tls).toEqual({ dir: join(dir, 'certs'), ...tlsFilesOf(join(dir, 'certs'), admin) });
    const status = await runCli(['status', '--cluster', join(dir, 'cluster.json')]);
    expect(status.stdout).toMatch(/^transport: mutual TLS$/m);
    expect(await metaOutcome(TransportSecurity.fromFiles(file.tls!), file.metad[0]!.address)).toBe('ok');
    expect(await dataOutcome(TransportSecurity.fromFiles(file.tls!), file.chunkd[0]!.address)).toBe('ok');
  });

  it('refuses a plaintext client on every listener: metad API, Raft, chunk data port', async () => {
    const plain = TransportSecurity.insecure();
    for (const m of file.metad) expect(await metaOutcome(plain, m.address)).not.toBe('ok');
    for (const c of file.chunkd) expect(await dataOutcome(plain, c.address)).not.toBe('ok');
    // The Raft transport shares metad's port: an HTTP/2 preface in the clear gets no HTTP/2 back.
    for (const m of file.metad) {
      const [host, port] = m.address.split(':') as [string, string];
      const reply = await new Promise<Buffer>((resolve) => {
        const s = net.connect({ host, port: Number(port) }, () => s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
        const got: Buffer[] = [];
        s.on('data', (d: Buffer) => got.push(d));
        s.on('error', () => undefined);
        s.on('close', () => resolve(Buffer.concat(got)));
        setTimeout(() => s.destroy(), 3_000);
      });
      // A TLS alert record (0x15) or nothing; never an HTTP/2 frame (a SETTINGS frame has type 4 at byte 3).
      expect(reply.length === 0 || reply[0] === 0x15).toBe(true);
    }
  });

  it('refuses a certificate from another CA and an expired one with BASALT_UNAUTHENTICATED', async () => {
    const foreign = await credentials('foreign', await createCa('another CA', { days: 1 }), { days: 1 });
    const expired = await credentials('expired', clusterCa(), { notBeforeMs: Date.now() - 10 * 86_400_000, days: 1 });
    for (const files of [foreign, expired]) {
      const security = TransportSecurity.fromFiles(files);
      expect(await metaOutcome(security, file.metad[0]!.address)).toBe(ErrorCode.Unauthenticated);
      expect(await dataOutcome(security, file.chunkd[0]!.address)).toBe(ErrorCode.Unauthenticated);
    }
  });

  it('the agent refuses to serve plaintext NBD beyond loopback, and a TLS-required listener refuses a plaintext client', async () => {
    const refused = await runCli(['agent', '--metad', file.metad[0]!.address, '--listen', '0.0.0.0:1']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/plaintext on loopback only/);
    const [port] = await freePorts(1);
    const agentFiles = tlsFilesOf(file.tls!.dir, { role: 'agent', name: 'agent' });
    const agent = scope.spawnCli('agent-tls', ['agent', '--cluster', join(dir, 'cluster.json'), '--listen', `127.0.0.1:${port}`, '--tls-cert', agentFiles.cert, '--tls-key', agentFiles.key, '--tls-ca', agentFiles.ca, '--tls-required']);
    await waitForLog(agent, /NBD on/);
    const c = await RawNbd.connect(port!);
    await c.handshake();
    await expect(c.go('anything')).rejects.toThrow();
    c.destroy();
  });

  it('refuses a revoked certificate everywhere: metad at once, chunk servers after a heartbeat, clients after a refresh', { timeout: 120_000 }, async () => {
    const clusterFile = join(dir, 'cluster.json');
    const issued = await runCli(['certs', 'issue', '--dir', file.tls!.dir, '--role', 'admin', '--name', 'victim']);
    expect(issued.code, issued.stderr).toBe(0);
    const serial = /issued ([0-9A-F]+) for/.exec(issued.stdout)![1]!;
    const victim = TransportSecurity.fromFiles(tlsFilesOf(file.tls!.dir, { role: 'admin', name: 'victim' }));
    expect(await metaOutcome(victim, file.metad[0]!.address)).toBe('ok');
    const live = await DataConnection.connect(file.chunkd[0]!.address, { security: victim, probeAfterMs: 0 });
    const revoke = await runCli(['certs', 'revoke', serial.toLowerCase(), '--cluster', clusterFile]);
    expect(revoke.stdout, revoke.stderr).toMatch(/revoked/);
    const listed = await runCli(['certs', 'revoked', '--json', '--cluster', clusterFile]);
    expect(JSON.parse(listed.stdout)).toEqual({ serials: [serial] });
    for (const m of file.metad) {
      await waitFor(`${m.id} refuses the revoked certificate`, async () => (await metaOutcome(victim, m.address)) === ErrorCode.Unauthenticated, { timeoutMs: 10_000 });
    }
    for (const c of file.chunkd) {
      await waitFor(`${c.id} refuses the revoked certificate`, async () => (await dataOutcome(victim, c.address)) === ErrorCode.Unauthenticated, { timeoutMs: 15_000 });
    }
    // The connection opened before the revocation was closed by the server.
    await waitFor('the live connection of the revoked peer to close', () => live.closed, { timeoutMs: 5_000 });
    // A client learns the deny list from metad and refuses a server holding a revoked certificate.
    const security = TransportSecurity.fromFiles(file.tls!);
    const client = connect({ metad: file.metad.map((m) => m.address), security });
    await client.listVolumes();
    await waitFor('the client to fetch the deny list', () => security.isRevoked(serial), { timeoutMs: 20_000 });
    client.close();
    const c1 = readFileSync(tlsFilesOf(file.tls!.dir, { role: 'chunkd', name: file.chunkd[0]!.id }).cert, 'utf8');
    const pinned = TransportSecurity.fromFiles(file.tls!);
    pinned.setRevokedSerials([serialOf(c1)]);
    expect(await dataOutcome(pinned, file.chunkd[0]!.address)).toBe(ErrorCode.Unauthenticated);
  });

  it('rotates the CA under live SDK I/O (certs rotate, SIGHUP to all, rotate --finish, SIGHUP) with no I/O error', { timeout: 180_000 }, async () => {
    const clusterFile = join(dir, 'cluster.json');
    const oldAdmin = await credentials('old-admin', clusterCa(), { days: 1 });
    copyFileSync(file.tls!.ca, join(dir, 'old-bundle.pem'));
    const security = TransportSecurity.fromFiles(file.tls!);
    const metrics = new ClientMetrics();
    const client = connect({ metad: file.metad.map((m) => m.address), security, metrics });
    await client.createVolume('rot', { sizeBytes: 16 * 1024 * 1024, extentSizeBytes: 4 * 1024 * 1024, replicationFactor: 3 });
    const volume = await client.openVolume('rot', { writer: true });
    const prng = new Prng(15);
    const expected = Buffer.alloc(16 * 1024 * 1024);
    const errors: unknown[] = [];
    let writes = 0;
    let stop = false;
    const io = (async () => {
      while (!stop) {
        const offset = prng.int(0, 4095) * 4096;
        const data = Buffer.from(prng.fill(new Uint8Array(4096)));
        try {
          await volume.write(offset, data);
          data.copy(expected, offset);
          const back = await volume.read(offset, 4096);
          if (!back.equals(data)) errors.push(new Error(`read back differs at ${offset}`));
          writes++;
        } catch (err) {
          errors.push(err);
        }
      }
    })();
    const reloads = (): number => [...file.metad, ...file.chunkd].length;
    const awaitWrites = async (n: number): Promise<void> => {
      const target = writes + n;
      await waitFor(`${n} more writes`, () => writes >= target || errors.length > 0, { timeoutMs: 60_000 });
    };
    await awaitWrites(20);
    const rotate = await runCli(['certs', 'rotate', '--dir', file.tls!.dir, '--cluster', clusterFile]);
    expect(rotate.stdout, rotate.stderr).toMatch(new RegExp(`sent SIGHUP to ${reloads() + 1} processes`));
    security.reload();
    await awaitWrites(20);
    // Mid-rotation: both the new certificates and ones of the old CA are accepted.
    expect(await metaOutcome(TransportSecurity.fromFiles(file.tls!), file.metad[1]!.address)).toBe('ok');
    expect(await metaOutcome(TransportSecurity.fromFiles(oldAdmin), file.metad[1]!.address)).toBe('ok');
    const finish = await runCli(['certs', 'rotate', '--finish', '--dir', file.tls!.dir, '--cluster', clusterFile]);
    expect(finish.code, finish.stderr).toBe(0);
    security.reload();
    await awaitWrites(20);
    stop = true;
    await io;
    expect(errors).toEqual([]);
    // The SDK flushes each member itself over mutual TLS (docs/data-path.md, "Flush"), none through the primary.
    await volume.flush();
    expect((await metrics.registry.getSingleMetric('basalt_client_flush_fallbacks_total')!.get()).values).toEqual([]);
    // After the window: the old CA's certificates are refused, new connections with the new ones work.
    expect(await metaOutcome(TransportSecurity.fromFiles(oldAdmin), file.metad[2]!.address)).toBe(ErrorCode.Unauthenticated);
    expect(await dataOutcome(TransportSecurity.fromFiles(oldAdmin), file.chunkd[2]!.address)).toBe(ErrorCode.Unauthenticated);
    expect(await metaOutcome(TransportSecurity.fromFiles(file.tls!), file.metad[2]!.address)).toBe('ok');
    const fresh = connect({ metad: file.metad.map((m) => m.address), security: TransportSecurity.fromFiles(file.tls!) });
    const reader = await fresh.openVolume('rot');
    expect((await reader.read(0, expected.length)).equals(expected)).toBe(true);
    await reader.close();
    fresh.close();
    await volume.close();
    client.close();
  });
});
