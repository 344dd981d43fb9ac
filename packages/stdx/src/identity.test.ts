import { describe, expect, it } from 'vitest';
import { identityFromSubjectAltName, identityUri, parseIdentityUri } from './identity.js';
import { ErrorCode } from './errors.js';

describe('identity URIs', () => {
  it('round-trip each role', () => {
    for (const id of [
      { role: 'metad', name: 'm1' },
      { role: 'chunkd', name: 'cs-3' },
      { role: 'admin', name: 'ops' },
      { role: 'agent', name: 'node-a', tenant: 'team-a' },
      { role: 'client', name: 'app', tenant: 'team-a' },
    ] as const) {
      expect(parseIdentityUri(identityUri(id))).toEqual(id);
    }
  });

  it('refuse what is not an identity, with a typed error', () => {
    for (const uri of ['', 'spiffe://x/y', 'basalt:root/x', 'basalt:client/app', 'basalt:metad/m1@t', 'basalt:client/A@t', 'basalt:client/a@b@c', 'basalt:admin']) {
      expect(() => parseIdentityUri(uri), uri).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }));
    }
  });

  it('come out of a certificate\'s subject alternative names, exactly one of them', () => {
    expect(identityFromSubjectAltName('DNS:localhost, IP Address:127.0.0.1, URI:basalt:chunkd/cs-1')).toEqual({ role: 'chunkd', name: 'cs-1' });
    for (const san of [undefined, '', 'DNS:localhost', 'URI:basalt:admin/a, URI:basalt:admin/b']) {
      expect(() => identityFromSubjectAltName(san), String(san)).toThrow(expect.objectContaining({ code: ErrorCode.Unauthenticated }));
    }
  });
});
