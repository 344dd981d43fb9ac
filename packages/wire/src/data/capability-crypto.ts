import crypto from 'node:crypto';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { assembleToken, parseToken, tokenBody, type CapabilityClaims } from './capability.js';

/**
 * Ed25519 signing and verification of capability tokens (capability.ts) with node:crypto. metad
 * holds the private key; chunk servers get the raw 32-byte public key from metad (register and
 * heartbeat replies). Measured on the project machine (Node 20, 2026-12-06): sign ~40-48 µs,
 * verify ~115-118 µs: too much per 4 KiB request, so a chunk server verifies a token once per
 * connection and checks requests against what it verified (chunk/src/replica/authorize.ts).
 */
export function generateSigningKey(): crypto.KeyObject {
  return crypto.generateKeyPairSync('ed25519').privateKey;
}

/** Reads a PKCS#8 PEM Ed25519 private key (what `writeSigningKeyPem` writes). */
export function signingKeyFromPem(pem: string): crypto.KeyObject {
  const key = crypto.createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new BasaltError(ErrorCode.InvalidArgument, `signing key must be Ed25519, not ${key.asymmetricKeyType}`);
  return key;
}

export function signingKeyPem(key: crypto.KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The raw 32-byte public key of a private key, as it travels to chunk servers. */
export function rawPublicKey(privateKey: crypto.KeyObject): Buffer {
  const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url');
}

export function publicKeyFromRaw(raw: Uint8Array): crypto.KeyObject {
  if (raw.length !== 32) throw new BasaltError(ErrorCode.InvalidArgument, `an Ed25519 public key is 32 bytes, not ${raw.length}`);
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export function signToken(claims: CapabilityClaims, privateKey: crypto.KeyObject): Buffer {
  const body = tokenBody(claims);
  return assembleToken(body, crypto.sign(null, body, privateKey));
}

export type VerifiedToken = { readonly kind: 'ok'; readonly claims: CapabilityClaims } | { readonly kind: 'error'; readonly message: string };

/** Checks a token's form and its signature against any of the keys. Never throws. */
export function verifyToken(token: Buffer, publicKeys: readonly crypto.KeyObject[]): VerifiedToken {
  const parsed = parseToken(token);
  if (parsed.kind === 'error') return parsed;
  for (const key of publicKeys) {
    if (crypto.verify(null, parsed.body, key, parsed.signature)) return { kind: 'ok', claims: parsed.claims };
  }
  return { kind: 'error', message: publicKeys.length === 0 ? 'this server knows no metad key yet' : 'token signature does not verify with metad\'s key' };
}
