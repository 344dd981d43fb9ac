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

/** The Ed25519 key whose RFC 8032 seed is these 32 bytes (a simulation's key, drawn from its seed). */
export function signingKeyFromSeed(seed: Uint8Array): crypto.KeyObject {
  if (seed.length !== 32) throw new BasaltError(ErrorCode.InvalidArgument, `an Ed25519 seed is 32 bytes, not ${seed.length}`);
  return crypto.createPrivateKey({ key: Buffer.concat([pkcs8Ed25519Prefix, seed]), format: 'der', type: 'pkcs8' });
}

/** DER of a PKCS#8 Ed25519 private key up to its 32-byte seed. */
const pkcs8Ed25519Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');

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
