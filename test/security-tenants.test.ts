import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, MiB, type Identity } from '@basalt/stdx';
import { DataConnection, MetaClient, TransportSecurity, type ExtentRef, type pb } from '@basalt/wire';
import { connect, type BasaltClient } from '@basalt/client';
import { tlsFilesOf } from '@basalt/cli';
import { freePortRange, freePorts, ProcessScope, runCli, runCliJson, waitFor, waitForLog } from './lib/process.js';
import { Opt, Rep } from '@basalt/agent/protocol';
import { RawNbd } from './nbd-raw-client.js';

/**
 * Every security part at once over real processes: a secure `basalt up` (mutual TLS, roles,
 * tenants, capabilities, the audit log), certificates issued with `basalt certs issue` for two
 * tenants' clients, a tenant's agent and the cluster's own chunk server identity. What each may
 * do through the SDK, the agent's NBD listener and a chunk server's data port, what the audit log
 * says about it, and what a revoked client keeps (nothing).
 */
const scope = new ProcessScope();
const extentSizeBytes = 4 * MiB;
let dir = '';
let clusterFile = '';
let certsDir = '';
let metad: string[] = [];
let chunkIds: string[] = [];
const clients: BasaltClient[] = [];

const alice: Identity = { role: 'client', name: 'alice', tenant: 'team-a' };
const bob: Identity = { role: 'client', name: 'bob', tenant: 'team-b' };
const agentA: Identity = { role: 'agent', name: 'agent-a', tenant: 'team-a' };

interface ClusterJson {
  tls: { dir: string; ca: string; cert: string; key: string };
  metad: { id: string; address: string }[];
  chunkd: { id: string; address: string }[];
}

type Entry = { role: string; name: string; tenant: string; method: string; target: string; outcome: string };

/** `basalt certs issue` into the cluster's folder; returns the serial it printed. */
async function issue(identity: Identity): Promise<string> {
  const r = await runCli(['certs', 'issue', '--dir', certsDir, '--role', identity.role, '--name', identity.name, ...(identity.tenant !== undefined ? ['--tenant', identity.tenant] : [])]);
  expect(r.code, r.stderr).toBe(0);
  return /issued ([0-9A-F]+) for/.exec(r.stdout)![1]!;
}

function securityOf(identity: Identity): TransportSecurity {
  return TransportSecurity.fromFiles(tlsFilesOf(certsDir, identity));
}

function clientAs(identity: Identity): BasaltClient {
  const c = connect({ metad, security: securityOf(identity), requestTimeoutMs: 10_000 });
  clients.push(c);
  return c;
}

const denied = { code: ErrorCode.PermissionDenied };

beforeAll(async () => {
  dir = scope.tempDir('basalt-security-tenants');
  const base = await freePortRange(41);
  const [nbd] = await freePorts(1);
  const up = await runCli(['up', '--detach', '--dir', dir, '--base-port', String(base), '--nbd-port', String(nbd)], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  clusterFile = join(dir, 'cluster.json');
  const file = JSON.parse(readFileSync(clusterFile, 'utf8')) as ClusterJson;
  certsDir = file.tls.dir;
  metad = file.metad.map((m) => m.address);
  chunkIds = file.chunkd.map((c) => c.id);
  for (const identity of [alice, bob, agentA]) await issue(identity);
  const admin = connect({ metad, security: TransportSecurity.fromFiles(file.tls), requestTimeoutMs: 10_000 });
  clients.push(admin);
  await admin.createTenant('team-a');
  await admin.createTenant('team-b');
  await admin.createVolume('va', { sizeBytes: 8 * MiB, extentSizeBytes, tenant: 'team-a' });
  await admin.createVolume('vb', { sizeBytes: 8 * MiB, extentSizeBytes, tenant: 'team-b' });
}, 360_000);

afterAll(async () => {
  for (const c of clients) c.close();
  if (dir !== '' && existsSync(clusterFile)) await runCli(['down', '--dir', dir]);
  await scope.cleanup();
});

describe('tenants on a secure cluster (mutual TLS, roles, capabilities together)', () => {
  it('a client of tenant A lists, opens, reads and writes its own volume but nothing of tenant B', { timeout: 60_000 }, async () => {
    const a = clientAs(alice);
    const b = clientAs(bob);
    expect((await a.listVolumes()).map((v) => v.name)).toEqual(['va']);
    expect((await b.listVolumes()).map((v) => v.name)).toEqual(['vb']);
    await expect(a.listVolumes({ tenant: 'team-b' })).rejects.toMatchObject(denied);
    expect((await a.listTenants()).map((t) => t.name)).toEqual(['team-a']);

    const va = await a.openVolume('va', { writer: true });
    const vb = await b.openVolume('vb', { writer: true });
    const dataA = Buffer.alloc(64 * 1024, 0xa1);
    const dataB = Buffer.alloc(64 * 1024, 0xb2);
    await va.write(0, dataA);
    await vb.write(0, dataB);
    expect((await va.read(0, dataA.length)).equals(dataA)).toBe(true);

    await expect(a.getVolume('vb')).rejects.toMatchObject(denied);
    // Names are not secret (docs/security.md, "What it does not protect"): a missing volume is another answer.
    await expect(a.getVolume('no-such-volume')).rejects.toMatchObject({ code: ErrorCode.VolumeNotFound });
    await expect(a.openVolume('vb')).rejects.toMatchObject(denied);
    await expect(a.openVolume('vb', { writer: true })).rejects.toMatchObject(denied);
    await expect(a.resizeVolume('vb', 16 * MiB)).rejects.toMatchObject(denied);
    await expect(a.deleteVolume('vb')).rejects.toMatchObject(denied);
    await expect(a.createVolume('in-b', { sizeBytes: 8 * MiB, tenant: 'team-b' })).rejects.toMatchObject(denied);
    // A client creates in its own tenant without naming it.
    expect(await a.createVolume('va2', { sizeBytes: 8 * MiB, extentSizeBytes })).toMatchObject({ tenant: 'team-a' });
    expect((await b.listVolumes()).map((v) => v.name)).toEqual(['vb']);

    // Below the SDK: alice's own capability (for va) against vb's extent on its primary, over her TLS session.
    const metaA = new MetaClient({ endpoints: metad, security: securityOf(alice) });
    const metaB = new MetaClient({ endpoints: metad, security: securityOf(bob) });
    try {
      await expect(metaA.call('getExtentMap', { volume: 'vb', fromIndex: 0, count: 1 })).rejects.toMatchObject(denied);
      const capA = Buffer.from((await metaA.call('getExtentMap', { volume: 'va', fromIndex: 0, count: 1, writer: true })).capability);
      const extB: pb.IExtent = (await metaB.call('getExtentMap', { volume: 'vb', fromIndex: 0, count: 1 })).extents[0]!;
      const replicas = (extB.replicas ?? []).map((r) => ({ serverId: r.serverId!, address: r.address! }));
      const primary = replicas.find((r) => r.serverId === extB.primary)!;
      const ref: ExtentRef = { volumeId: vb.id, index: 0, extentSizeBytes, epoch: Number(extB.epoch), generation: vb.generation, replicas: [primary, ...replicas.filter((r) => r !== primary)], auth: [capA, Buffer.from(extB.signedState!)] };
      const conn = await DataConnection.connect(primary.address, { security: securityOf(alice), requestTimeoutMs: 10_000, probeAfterMs: 0 });
      // Bob's own capability for vb, copied to alice: granted to bob's identity, so alice's session gets nothing from it.
      const capB = Buffer.from((await metaB.call('getExtentMap', { volume: 'vb', fromIndex: 0, count: 1, writer: true })).capability);
      try {
        await expect(conn.read(ref, 0, 4096)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
        await expect(conn.write(ref, 0, Buffer.alloc(4096, 0xee))).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
        await expect(conn.authenticate(capB)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated, message: expect.stringContaining('presented by basalt:client/') });
        const copied = { ...ref, auth: [capB, Buffer.from(extB.signedState!)] };
        await expect(conn.read(copied, 0, 4096)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
        await expect(conn.write(copied, 0, Buffer.alloc(4096, 0xee))).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
      } finally {
        conn.close();
      }
    } finally {
      metaA.close();
      metaB.close();
    }
    expect((await vb.read(0, dataB.length)).equals(dataB)).toBe(true);
    await va.close();
    await vb.close();
  });

  it("tenant A's agent serves A's volume over NBD and refuses B's export", { timeout: 60_000 }, async () => {
    const [port] = await freePorts(1);
    const files = tlsFilesOf(certsDir, agentA);
    const agent = scope.spawnCli('agent-a', ['agent', '--metad', metad.join(','), '--listen', `127.0.0.1:${port}`, '--metrics-port', '0'], {
      env: { BASALT_TLS_CA: files.ca, BASALT_TLS_CERT: files.cert, BASALT_TLS_KEY: files.key },
    });
    await waitForLog(agent, /NBD on/);
    // The agent negotiates against what its identity may list: B's volume is not there.
    const lister = await RawNbd.connect(port!);
    await lister.handshake();
    const listed = await lister.option(Opt.List);
    expect(listed.filter((r) => r.type === Rep.Server).map((r) => r.data.subarray(4).toString())).toEqual(['va', 'va2']);
    lister.destroy();
    const refused = await RawNbd.connect(port!);
    await refused.handshake();
    await expect(refused.go('vb')).rejects.toThrow(new RegExp(`GO refused: ${Rep.ErrUnknown.toString(16)}`));
    refused.destroy();
    const served = await RawNbd.connect(port!);
    await served.handshake();
    expect((await served.go('va')).size).toBe(BigInt(8 * MiB));
    served.destroy();
  });

  it('a chunk server identity cannot create or delete volumes; a client cannot drain, revoke or read the audit log', async () => {
    const chunk = clientAs({ role: 'chunkd', name: chunkIds[0]! });
    await expect(chunk.createVolume('by-chunkd', { sizeBytes: 8 * MiB })).rejects.toMatchObject(denied);
    await expect(chunk.deleteVolume('va')).rejects.toMatchObject(denied);
    await expect(chunk.createTenant('by-chunkd')).rejects.toMatchObject(denied);
    const a = clientAs(alice);
    await expect(a.drainServer(chunkIds[0]!)).rejects.toMatchObject(denied);
    await expect(a.revokeCertificate('01')).rejects.toMatchObject(denied);
    await expect(a.auditLog()).rejects.toMatchObject(denied);
    await expect(a.createTenant('team-c')).rejects.toMatchObject(denied);
    expect((await a.listServers().catch((err: unknown) => err))).toMatchObject(denied);
  });

  it('basalt audit shows the creates and the refusals with who asked, whichever member refused', async () => {
    const entries = await runCliJson<Entry[]>(['audit', '--json', '--cluster', clusterFile]);
    const lines = entries.map((e) => `${e.role}/${e.name}${e.tenant === '' ? '' : `@${e.tenant}`} ${e.method} ${e.target} ${e.outcome}`);
    expect(lines).toEqual(expect.arrayContaining([
      'admin/admin createTenant team-a ok',
      'admin/admin createVolume va ok',
      'admin/admin createVolume vb ok',
      'client/alice@team-a createVolume va2 ok',
      `client/alice@team-a getVolume vb ${ErrorCode.PermissionDenied}`,
      `client/alice@team-a createVolume in-b ${ErrorCode.PermissionDenied}`,
      `chunkd/${chunkIds[0]} createVolume by-chunkd ${ErrorCode.PermissionDenied}`,
      // The SDK's deleteVolume reads the volume first (a clone's parent), and that read is refused.
      `chunkd/${chunkIds[0]} getVolume va ${ErrorCode.PermissionDenied}`,
      `client/alice@team-a drainServer ${chunkIds[0]} ${ErrorCode.PermissionDenied}`,
      `client/alice@team-a listAudit  ${ErrorCode.PermissionDenied}`,
      `client/alice@team-a getExtentMap vb ${ErrorCode.PermissionDenied}`,
    ]));
  });

  it('a revoked client certificate loses metad and its open volume', { timeout: 90_000 }, async () => {
    const carol: Identity = { role: 'client', name: 'carol', tenant: 'team-a' };
    const serial = await issue(carol);
    const c = clientAs(carol);
    const volume = await c.openVolume('va');
    expect((await volume.read(0, 4096)).equals(Buffer.alloc(4096, 0xa1))).toBe(true);
    const revoke = await runCli(['certs', 'revoke', serial, '--cluster', clusterFile]);
    expect(revoke.stdout, revoke.stderr).toMatch(/revoked/);
    const outcome = async (fn: () => Promise<unknown>): Promise<string> => fn().then(() => 'ok', (err: unknown) => (err as { code?: string }).code ?? String(err));
    await waitFor('metad to refuse the revoked client', async () => (await outcome(() => c.listVolumes())) === ErrorCode.Unauthenticated, { timeoutMs: 15_000 });
    await waitFor('its open volume to stop reading', async () => (await outcome(() => volume.read(0, 4096))) !== 'ok', { timeoutMs: 45_000 });
    const fresh = connect({ metad, security: securityOf(carol), requestTimeoutMs: 5_000 });
    clients.push(fresh);
    await expect(fresh.openVolume('va')).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
  });
});
