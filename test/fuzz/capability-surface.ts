import fc from 'fast-check';
import { limits } from '@basalt/stdx';
import { publicKeyFromRaw, rawPublicKey, signingKeyFromSeed, signToken, verifyToken, type CapabilityClaims } from '@basalt/wire';
import { bytes, counter, mutate, mutation, runParameters, type FuzzOptions } from './surface.js';

/**
 * Capability tokens (wire/data/capability.ts) as a chunk server receives them in AUTH frames:
 * tokens metad signed, mutated (truncated, bytes overwritten, a tail appended, replayed), and
 * random bytes. Properties: verification never throws; a token verifies only as signed, with
 * exactly the claims that were signed; no other byte string verifies.
 */
const key = signingKeyFromSeed(new Uint8Array(32).fill(7));
const keys = [publicKeyFromRaw(rawPublicKey(key))];

const id = fc.stringMatching(/^[a-z0-9.:-]{1,40}$/);
const claims: fc.Arbitrary<CapabilityClaims> = fc.oneof(
  fc.record({ volumeId: fc.nat(), firstIndex: fc.nat({ max: 1000 }), span: fc.integer({ min: 1, max: 1000 }), rw: fc.boolean(), generation: fc.nat(), expiresAtMs: fc.nat() })
    .map((c): CapabilityClaims => ({ kind: 'client', volumeId: c.volumeId, firstIndex: c.firstIndex, endIndex: c.firstIndex + c.span, mode: c.rw ? 'rw' : 'ro', generation: c.generation, expiresAtMs: c.expiresAtMs })),
  fc.record({ serverId: id, expiresAtMs: fc.nat() }).map((c): CapabilityClaims => ({ kind: 'peer', ...c })),
  fc.record({ volumeId: fc.nat(), index: fc.nat(), epoch: fc.nat(), replicas: fc.array(fc.tuple(id, id, fc.boolean()), { minLength: 1, maxLength: limits.replicationFactorMax }) })
    .map((c): CapabilityClaims => ({ kind: 'extent', volumeId: c.volumeId, index: c.index, epoch: c.epoch, replicas: c.replicas.map(([serverId, address, rebuilding]) => (rebuilding ? { serverId, address, rebuilding: true } : { serverId, address })) })),
);

export function fuzzCapability(o: FuzzOptions): void {
  const tick = counter(o);
  const mutated = fc.property(claims, mutation, (c, m) => {
    tick();
    const token = signToken(c, key);
    const input = mutate(token, m);
    const verified = verifyToken(input, keys);
    if (input.equals(token)) {
      if (verified.kind !== 'ok' || JSON.stringify(verified.claims) !== JSON.stringify(c)) throw new Error('a signed token did not verify to its claims');
    } else if (verified.kind === 'ok') {
      throw new Error(`a ${m.kind} token verified`);
    }
  });
  const random = fc.property(bytes(600), (raw) => {
    tick();
    if (verifyToken(raw, keys).kind === 'ok') throw new Error('random bytes verified');
  });
  const share = Math.max(1, Math.floor(o.iterations / 4));
  fc.assert(mutated, { ...runParameters(o), numRuns: Math.max(1, o.iterations - share) });
  fc.assert(random, { ...runParameters(o), numRuns: share });
}
