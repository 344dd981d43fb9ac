import { describe, expect, it } from 'vitest';
import { identityUri, parseIdentityUri } from './identity.js';
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
});
