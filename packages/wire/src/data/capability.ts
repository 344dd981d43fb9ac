import { limits } from '@basalt/stdx';
import { replicaFieldBytesMax } from './constants.js';
import type { ReplicaRef } from './codec.js';

/**
 * Signed tokens of the data plane (docs/data-path.md, "Capabilities"): what metad grants, in a
 * form a chunk server checks without asking metad. A token is
 *
 *   "BCP1" (4 bytes) | u16 claims length L | L bytes of claims (UTF-8 JSON) | 64-byte Ed25519 signature
 *
 * where the signature covers the first 6 + L bytes, so the claims are checked as they were sent
 * (no canonical form to agree on). Three kinds of claims:
 * - `client`: a client may read (`ro`) or read and write (`rw`) extents [firstIndex, endIndex) of
 *   a volume, writes only at one writer generation, until expiresAtMs (metad's wall clock);
 * - `peer`: the chunk server serverId may forward, copy and compare replicas of any volume, until
 *   expiresAtMs;
 *   both name their `holder` (the identity URI metad granted them to): only a connection whose
 *   peer proves that identity may present them, so a token copied elsewhere grants nothing;
 * - `extent`: metad's replica set of one extent at one epoch (members in order, rebuilding flags).
 *   It does not expire: epochs only grow, so an old one can never raise a server's epoch;
 * - `dropped`: snapshot snapshotId of a volume is deleted for good, so its blocks may be dropped
 *   (SNAPSHOT_DELETE). It does not expire either: snapshot ids are never reused.
 * Parsing is pure; signing and verifying are in capability-crypto.ts.
 */
export type ClientClaims = {
  readonly kind: 'client';
  readonly volumeId: number;
  readonly firstIndex: number;
  readonly endIndex: number;
  readonly mode: 'ro' | 'rw';
  /** The writer generation writes must carry (reads carry any). */
  readonly generation: number;
  readonly expiresAtMs: number;
  /** The identity URI (`basalt:ROLE/NAME[@TENANT]`) it was granted to; absent: any holder (a simulation's metad). */
  readonly holder?: string;
};

export type PeerClaims = {
  readonly kind: 'peer';
  readonly serverId: string;
  readonly expiresAtMs: number;
  /** As ClientClaims.holder. */
  readonly holder?: string;
};

export type ExtentClaims = {
  readonly kind: 'extent';
  readonly volumeId: number;
  readonly index: number;
  readonly epoch: number;
  readonly replicas: readonly ReplicaRef[];
};

export type DroppedClaims = {
  readonly kind: 'dropped';
  readonly volumeId: number;
  readonly snapshotId: number;
};

export type CapabilityClaims = ClientClaims | PeerClaims | ExtentClaims | DroppedClaims;

export const tokenMagic = Buffer.from('BCP1', 'latin1');
export const tokenSignatureBytes = 64;
const tokenPrefixBytes = tokenMagic.length + 2;

/** The bytes a signature covers for these claims (magic, length, JSON). */
export function tokenBody(claims: CapabilityClaims): Buffer {
  const json = Buffer.from(JSON.stringify(wireClaims(claims)), 'utf8');
  const body = Buffer.allocUnsafe(tokenPrefixBytes + json.length);
  tokenMagic.copy(body, 0);
  body.writeUInt16BE(json.length, tokenMagic.length);
  json.copy(body, tokenPrefixBytes);
  return body;
}

/** A whole token: its body and the signature over it. */
export function assembleToken(body: Buffer, signature: Uint8Array): Buffer {
  return Buffer.concat([body, signature]);
}

export type ParsedToken =
  | { readonly kind: 'ok'; readonly claims: CapabilityClaims; readonly body: Buffer; readonly signature: Buffer }
  | { readonly kind: 'error'; readonly message: string };

/** Splits and checks a token's form (not its signature). Never throws. */
export function parseToken(token: Buffer): ParsedToken {
  if (token.length > limits.capabilityTokenBytesMax) return bad(`token of ${token.length} bytes is above ${limits.capabilityTokenBytesMax}`);
  if (token.length < tokenPrefixBytes + tokenSignatureBytes || !token.subarray(0, tokenMagic.length).equals(tokenMagic)) return bad('not a capability token');
  const jsonBytes = token.readUInt16BE(tokenMagic.length);
  if (tokenPrefixBytes + jsonBytes + tokenSignatureBytes !== token.length) return bad('token length does not match its claims');
  let raw: unknown;
  try {
    raw = JSON.parse(token.toString('utf8', tokenPrefixBytes, tokenPrefixBytes + jsonBytes));
  } catch {
    return bad('token claims are not JSON');
  }
  const claims = claimsFrom(raw);
  if (claims === undefined) return bad('token claims are malformed');
  return { kind: 'ok', claims, body: token.subarray(0, tokenPrefixBytes + jsonBytes), signature: token.subarray(tokenPrefixBytes + jsonBytes) };
}

function bad(message: string): ParsedToken {
  return { kind: 'error', message };
}

/** Short field names on the wire: a token travels once per connection and extent. */
function wireClaims(c: CapabilityClaims): Record<string, unknown> {
  switch (c.kind) {
    case 'client':
      return { k: 'client', v: c.volumeId, f: c.firstIndex, n: c.endIndex, m: c.mode, g: c.generation, x: c.expiresAtMs, ...(c.holder !== undefined && { h: c.holder }) };
    case 'peer':
      return { k: 'peer', s: c.serverId, x: c.expiresAtMs, ...(c.holder !== undefined && { h: c.holder }) };
    case 'extent':
      return { k: 'extent', v: c.volumeId, i: c.index, e: c.epoch, r: c.replicas.map((r) => [r.serverId, r.address, r.rebuilding === true ? 1 : 0]) };
    case 'dropped':
      return { k: 'dropped', v: c.volumeId, s: c.snapshotId };
  }
}

function claimsFrom(raw: unknown): CapabilityClaims | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  if ((o.k === 'client' || o.k === 'peer') && o.h !== undefined && !field(o.h)) return undefined;
  const holder = typeof o.h === 'string' ? { holder: o.h } : {};
  if (o.k === 'client') {
    const [v, f, n, g, x] = [o.v, o.f, o.n, o.g, o.x];
    if (!count(v) || !count(f) || !count(n) || !count(g) || !count(x) || f >= n || (o.m !== 'ro' && o.m !== 'rw')) return undefined;
    return { kind: 'client', volumeId: v, firstIndex: f, endIndex: n, mode: o.m, generation: g, expiresAtMs: x, ...holder };
  }
  if (o.k === 'peer') {
    if (!field(o.s) || !count(o.x)) return undefined;
    return { kind: 'peer', serverId: o.s, expiresAtMs: o.x, ...holder };
  }
  if (o.k === 'dropped') {
    if (!count(o.v) || !count(o.s) || o.s < 1) return undefined;
    return { kind: 'dropped', volumeId: o.v, snapshotId: o.s };
  }
  if (o.k === 'extent') {
    const [v, i, e] = [o.v, o.i, o.e];
    if (!count(v) || !count(i) || !count(e) || !Array.isArray(o.r) || o.r.length < 1 || o.r.length > limits.replicationFactorMax) return undefined;
    const replicas: ReplicaRef[] = [];
    for (const r of o.r as unknown[]) {
      if (!Array.isArray(r) || r.length !== 3 || !field(r[0]) || !field(r[1]) || (r[2] !== 0 && r[2] !== 1)) return undefined;
      replicas.push(r[2] === 1 ? { serverId: r[0], address: r[1], rebuilding: true } : { serverId: r[0], address: r[1] });
    }
    return { kind: 'extent', volumeId: v, index: i, epoch: e, replicas };
  }
  return undefined;
}

function count(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function field(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0 && Buffer.byteLength(x) <= replicaFieldBytesMax;
}
