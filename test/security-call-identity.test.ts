import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '@basalt/stdx';
import { TransportSecurity, type CallWithAuthContext } from '@basalt/wire';
import { createCa, issueCert } from '@basalt/cli';

/**
 * metad asks a gRPC call for its peer's identity on every message of a Raft stream (the revocation
 * check): TransportSecurity takes the certificate from grpc-js once per call, and still refuses it
 * as soon as its serial is revoked. Certificates are made in-process (@basalt/cli), no listener.
 */
const dir = mkdtempSync(join(tmpdir(), 'basalt-call-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function securityAndPeer(): Promise<{ security: TransportSecurity; peer: PeerCertificate }> {
  const ca = await createCa('test CA', { days: 1 });
  const own = await issueCert(ca, { identity: { role: 'metad', name: 'm1' }, hosts: ['127.0.0.1'], validity: { days: 1 } });
  const other = await issueCert(ca, { identity: { role: 'metad', name: 'm2' }, hosts: ['127.0.0.1'], validity: { days: 1 } });
  for (const [name, text] of [['ca.pem', ca.certPem], ['cert.pem', own.certPem], ['key.pem', own.keyPem]] as const) writeFileSync(join(dir, name), text);
  const security = TransportSecurity.fromFiles({ ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') });
  const x = new X509Certificate(other.certPem);
  // What grpc-js hands over (tls.TLSSocket#getPeerCertificate), as far as identity goes.
  const peer = { subjectaltname: x.subjectAltName, serialNumber: x.serialNumber, raw: x.raw } as unknown as PeerCertificate;
  return { security, peer };
}

describe('the identity of a gRPC call', () => {
  it('takes the peer certificate once per call and checks revocation on every ask', async () => {
    const { security, peer } = await securityAndPeer();
    let asked = 0;
    const call: CallWithAuthContext = {
      getAuthContext: () => {
        asked++;
        return { sslPeerCertificate: peer };
      },
    };
    expect(security.peerIdentityOfCall(call)).toEqual({ role: 'metad', name: 'm2' });
    expect(security.peerIdentityOfCall(call)).toEqual({ role: 'metad', name: 'm2' });
    expect(asked).toBe(1);
    security.setRevokedSerials([peer.serialNumber]);
    expect(() => security.peerIdentityOfCall(call)).toThrow(expect.objectContaining({ code: ErrorCode.Unauthenticated }) as Error);
    expect(asked).toBe(1);
    // Another call (another stream, maybe another connection) is asked for its own certificate.
    const second: CallWithAuthContext = { getAuthContext: () => (asked++, { sslPeerCertificate: peer }) };
    expect(() => security.peerIdentityOfCall(second)).toThrow(expect.objectContaining({ code: ErrorCode.Unauthenticated }) as Error);
    expect(asked).toBe(2);
  });

  it('refuses a call whose peer presented no trusted certificate, also when asked again', async () => {
    const { security } = await securityAndPeer();
    const call: CallWithAuthContext = { getAuthContext: () => ({}) };
    for (let i = 0; i < 2; i++) expect(() => security.peerIdentityOfCall(call)).toThrow(expect.objectContaining({ code: ErrorCode.Unauthenticated }) as Error);
  });
});
