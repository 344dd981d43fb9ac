import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tlsFilesOf } from '../certs/cert-store.js';
import { ensureLocalCerts, localIdentity, tlsArgs, tlsEnv } from './local-certs.js';
import { planLayout, withChunkServers } from './layout.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('local cluster certificates', () => {
  it('a CA and a certificate per process and for the CLI on first start; one more per added chunk server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'basalt-local-certs-'));
    dirs.push(dir);
    const file = planLayout({ dir, basePort: 7100, nbdPort: 10809, chunkServers: 2 });
    const lines: string[] = [];
    const tls = await ensureLocalCerts(file, (l) => lines.push(l));
    expect(lines.join('\n')).toMatch(/created a cluster CA/);
    expect(tls).toEqual({ dir: join(dir, 'certs'), ...tlsFilesOf(join(dir, 'certs'), localIdentity.admin) });
    for (const id of [localIdentity.metad('m1'), localIdentity.chunkd('c2'), localIdentity.agent, localIdentity.admin]) expect(existsSync(tlsFilesOf(tls.dir, id).cert)).toBe(true);
    expect(existsSync(tlsFilesOf(tls.dir, localIdentity.chunkd('c3')).cert)).toBe(false);
    lines.length = 0;
    await ensureLocalCerts(withChunkServers(file, 3), (l) => lines.push(l));
    expect(lines).toEqual([]);
    expect(existsSync(tlsFilesOf(tls.dir, localIdentity.chunkd('c3')).cert)).toBe(true);
    expect(tlsArgs(tls, localIdentity.metad('m1'))).toEqual(['--tls-ca', tls.ca, '--tls-cert', tlsFilesOf(tls.dir, localIdentity.metad('m1')).cert, '--tls-key', tlsFilesOf(tls.dir, localIdentity.metad('m1')).key]);
    expect(Object.keys(tlsEnv(tls, localIdentity.agent))).toEqual(['BASALT_TLS_CA', 'BASALT_TLS_CERT', 'BASALT_TLS_KEY']);
  });

  it('an insecure cluster passes --insecure and no TLS environment', () => {
    expect(tlsArgs(undefined, localIdentity.metad('m1'))).toEqual(['--insecure']);
    expect(tlsEnv(undefined, localIdentity.agent)).toEqual({});
  });
});
