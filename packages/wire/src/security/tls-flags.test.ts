import { describe, expect, it } from 'vitest';
import { insecureIdentity } from '@basalt/stdx';
import { securityFromFlags } from './tls-flags.js';
import { normalizeSerial, TransportSecurity, transportError } from './transport-security.js';

describe('securityFromFlags', () => {
  it('is insecure with --insecure only: without any flag it refuses, naming both choices', () => {
    expect(securityFromFlags({ insecure: true }).secure).toBe(false);
    expect(() => securityFromFlags({})).toThrow(/--tls-ca, --tls-cert and --tls-key .* or --insecure/);
  });

  it('says what is missing when only some TLS files are given, and refuses --insecure with them', () => {
    expect(() => securityFromFlags({ 'tls-ca': 'ca.pem', 'tls-cert': 'c.pem' })).toThrow(/missing --tls-key/);
    expect(() => securityFromFlags({ 'tls-ca': 'ca.pem', insecure: true })).toThrow(/exclude each other/);
  });

  it('names the file it cannot read', () => {
    expect(() => securityFromFlags({ 'tls-ca': '/nonexistent/ca.pem', 'tls-cert': 'c.pem', 'tls-key': 'k.pem' })).toThrow(/CA bundle \/nonexistent\/ca.pem/);
  });
});

describe('TransportSecurity', () => {
  it('insecure: every peer is insecureIdentity, nothing to reload', () => {
    const s = TransportSecurity.insecure();
    expect(s.peerIdentityOfCall({ getAuthContext: () => ({}) })).toBe(insecureIdentity);
    s.reload();
    expect(s.generation).toBe(0);
  });

  it('deny list: serials compare in any case, with or without colons and leading zeros; listeners hear only additions', () => {
    const s = TransportSecurity.insecure();
    let heard = 0;
    s.onRevocation(() => heard++);
    s.setRevokedSerials(['0a:bc']);
    expect(s.isRevoked('ABC')).toBe(true);
    expect(s.isRevoked('abd')).toBe(false);
    s.setRevokedSerials(['ABC']);
    expect(heard).toBe(1);
    expect(normalizeSerial('00:1f:00')).toBe('1F00');
  });

  it('transportError: a certificate failure is BASALT_UNAUTHENTICATED, anything else BASALT_UNAVAILABLE', () => {
    const cert = Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' });
    const alert = Object.assign(new Error('tlsv1 alert unknown ca'), { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' });
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(transportError(cert, 'a:1', 'x').code).toBe('BASALT_UNAUTHENTICATED');
    expect(transportError(alert, 'a:1', 'x').code).toBe('BASALT_UNAUTHENTICATED');
    expect(transportError(refused, 'a:1', 'x').code).toBe('BASALT_UNAVAILABLE');
  });
});
