import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import tls from 'node:tls';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { identityFromSubjectAltName } from '@basalt/stdx';
import { certPaths, finishRotation, initCa, issueInto, readIssued, rotateCa, tlsFilesOf } from './cert-store.js';
import { createCa, issueCert, serialOf, splitPemBundle } from './cert-authority.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'basalt-certs-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const chunk = { role: 'chunkd', name: 'c1' } as const;
const client = { role: 'client', name: 'alice', tenant: 'acme' } as const;

describe('cert authority', () => {
  it('issues a certificate that the CA signed, whose URI SAN is the identity and whose serial is reported', async () => {
    const ca = await createCa('test CA', { days: 1 });
    const cert = await issueCert(ca, { identity: client, hosts: ['localhost', '127.0.0.1'], validity: { days: 1 } });
    const x = new X509Certificate(cert.certPem);
    const caX = new X509Certificate(ca.certPem);
    expect(x.verify(caX.publicKey)).toBe(true);
    expect(x.checkIssued(caX)).toBe(true);
    expect(caX.ca).toBe(true);
    expect(x.ca).toBe(false);
    expect(identityFromSubjectAltName(x.subjectAltName)).toEqual(client);
    expect(x.subjectAltName).toContain('DNS:localhost');
    expect(x.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(x.serialNumber.toUpperCase()).toBe(cert.serial);
    expect(serialOf(cert.certPem)).toBe(cert.serial);
  });

  it('a certificate of another CA does not verify against this one', async () => {
    const [a, b] = [await createCa('a', { days: 1 }), await createCa('b', { days: 1 })];
    const cert = await issueCert(a, { identity: chunk, validity: { days: 1 } });
    expect(new X509Certificate(cert.certPem).verify(new X509Certificate(b.certPem).publicKey)).toBe(false);
  });

  it('sets the validity period asked for (an expired certificate can be made for tests)', async () => {
    const ca = await createCa('ca', { days: 1 });
    const start = Date.UTC(2020, 0, 1);
    const x = new X509Certificate((await issueCert(ca, { identity: chunk, validity: { notBeforeMs: start, days: 2 } })).certPem);
    expect(new Date(x.validFrom).getTime()).toBe(start);
    expect(new Date(x.validTo).getTime()).toBe(start + 2 * 86_400_000);
  });

  it('refuses an invalid identity or validity', async () => {
    const ca = await createCa('ca', { days: 1 });
    await expect(issueCert(ca, { identity: { role: 'client', name: 'x' }, validity: { days: 1 } })).rejects.toThrow(/names its tenant/);
    await expect(issueCert(ca, { identity: chunk, validity: { days: 0 } })).rejects.toThrow(/validity/);
  });
});

describe('cert store', () => {
  it('init, issue: files where tlsFilesOf says, recorded in issued.json; a second init is refused', async () => {
    const dir = tempDir();
    await initCa(dir, 'cluster');
    await expect(initCa(dir, 'again')).rejects.toThrow(/already has a CA/);
    const r = await issueInto(dir, chunk, ['127.0.0.1']);
    const files = tlsFilesOf(dir, chunk);
    expect(serialOf(readFileSync(files.cert, 'utf8'))).toBe(r.serial);
    expect(readIssued(dir).map((i) => i.identity)).toEqual([chunk]);
    await issueInto(dir, chunk, ['127.0.0.1']);
    expect(readIssued(dir)).toHaveLength(1);
  });

  it('rotate: a new CA, both in the bundle, every identity issued again by the new one; finish drops the old', async () => {
    const dir = tempDir();
    await initCa(dir, 'cluster');
    const before = await issueInto(dir, chunk, ['127.0.0.1']);
    await issueInto(dir, client, []);
    const oldCa = readFileSync(certPaths(dir).ca, 'utf8');
    const { reissued } = await rotateCa(dir, 'cluster 2');
    await expect(rotateCa(dir, 'cluster 3')).rejects.toThrow(/already in progress/);
    const newCa = new X509Certificate(readFileSync(certPaths(dir).ca, 'utf8'));
    expect(splitPemBundle(readFileSync(certPaths(dir).bundle, 'utf8')).map((p) => new X509Certificate(p).fingerprint256)).toEqual([newCa.fingerprint256, new X509Certificate(oldCa).fingerprint256]);
    expect(reissued.map((r) => r.identity)).toEqual([chunk, client]);
    // Node parses the bundle as a CA list: a certificate of either CA verifies against it.
    expect(() => tls.createSecureContext({ ca: readFileSync(certPaths(dir).bundle) })).not.toThrow();
    expect(readFileSync(certPaths(dir).bundle, 'utf8')).toMatch(/-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----/);
    const cert = new X509Certificate(readFileSync(tlsFilesOf(dir, chunk).cert, 'utf8'));
    expect(cert.verify(newCa.publicKey)).toBe(true);
    expect(cert.serialNumber.toUpperCase()).not.toBe(before.serial);
    finishRotation(dir);
    expect(splitPemBundle(readFileSync(certPaths(dir).bundle, 'utf8'))).toHaveLength(1);
    expect(() => finishRotation(dir)).toThrow(/no rotation in progress/);
  });
});
