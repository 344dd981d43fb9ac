import { describe, expect, it } from 'vitest';
import { ErrorCode, limits, MiB } from '@basalt/stdx';
import { DataFlag, DataOp, generateSigningKey, rawPublicKey, publicKeyFromRaw, signToken, verifyToken, type CapabilityClaims, type ClientClaims, type DataRequest, type ReplicaRef } from '@basalt/wire';
import { authorize, grant, newGrants, type Grants } from './authorize.js';
import type { ReplicaMeta } from './replica-meta.js';

const r = (id: string): ReplicaRef => ({ serverId: id, address: `${id}:1` });
const abc = [r('a'), r('b'), r('c')];
const now = 1_000_000;

function req(op: DataRequest['op'], o: { volumeId?: number; index?: number; epoch?: number; replicas?: ReplicaRef[]; flags?: number; generation?: number } = {}): DataRequest {
  const extent = { volumeId: o.volumeId ?? 1, index: o.index ?? 0, extentSizeBytes: MiB, epoch: o.epoch ?? 2, generation: o.generation ?? 3, replicas: o.replicas ?? abc };
  return { op, flags: o.flags ?? 0, requestId: 1, extent, offset: 0, length: op === DataOp.Flush ? 0 : 4096 };
}

const stored: ReplicaMeta = { volumeId: 1, index: 0, extentSizeBytes: MiB, epoch: 2, replicas: abc, version: 7, state: 'active' };
const rw: ClientClaims = { kind: 'client', volumeId: 1, firstIndex: 0, endIndex: 4, mode: 'rw', generation: 3, expiresAtMs: now + 60_000 };
const alice = 'basalt:client/alice@a';

function granted(...claims: CapabilityClaims[]): Grants {
  const g = newGrants(alice);
  for (const c of claims) expect(grant(g, c, now)).toBeUndefined();
  return g;
}

describe('authorization of data-plane requests by signed tokens', () => {
  it('refuses a token signed with another key than metad\'s, and takes one signed with it', () => {
    const metad = generateSigningKey();
    const forger = generateSigningKey();
    const keys = [publicKeyFromRaw(rawPublicKey(metad))];
    expect(verifyToken(signToken(rw, forger), keys)).toMatchObject({ kind: 'error', message: expect.stringContaining('does not verify') });
    expect(verifyToken(signToken(rw, metad), keys)).toEqual({ kind: 'ok', claims: rw });
    const token = signToken(rw, metad);
    token[token.length - 70]! ^= 1; // a claim byte changed after signing
    expect(verifyToken(token, keys).kind).toBe('error');
    const held = { ...rw, holder: alice };
    expect(verifyToken(signToken(held, metad), keys)).toEqual({ kind: 'ok', claims: held });
    expect(verifyToken(signToken({ ...rw, holder: '' }, metad), keys)).toMatchObject({ kind: 'error', message: 'token claims are malformed' });
  });

  it('serves reads and writes within the capability', () => {
    const g = granted(rw);
    expect(authorize(g, req(DataOp.Write), stored, 3, now)).toBeUndefined();
    expect(authorize(g, req(DataOp.Read, { index: 3 }), { ...stored, index: 3 }, 3, now)).toBeUndefined();
  });

  it('refuses a request without a capability, or with one for another volume', () => {
    expect(authorize(newGrants(alice), req(DataOp.Read), stored, 0, now)?.code).toBe(ErrorCode.Unauthenticated);
    expect(authorize(granted(rw), req(DataOp.Read, { volumeId: 2 }), { ...stored, volumeId: 2 }, 0, now)?.code).toBe(ErrorCode.Unauthenticated);
  });

  it('refuses an extent outside the capability\'s range (a new capability may cover it: the volume grew)', () => {
    expect(authorize(granted(rw), req(DataOp.Read, { index: 4 }), { ...stored, index: 4 }, 0, now)?.code).toBe(ErrorCode.Unauthenticated);
    expect(authorize(granted({ ...rw, endIndex: 5 }), req(DataOp.Read, { index: 4 }), { ...stored, index: 4 }, 0, now)).toBeUndefined();
  });

  it('refuses writes, trims and flushes under a read-only capability', () => {
    const g = granted({ ...rw, mode: 'ro' });
    for (const op of [DataOp.Write, DataOp.Trim, DataOp.WriteZeroes, DataOp.Flush]) expect(authorize(g, req(op), stored, 3, now)?.code).toBe(ErrorCode.PermissionDenied);
    expect(authorize(g, req(DataOp.Flush, { flags: DataFlag.Local }), stored, 3, now)?.code).toBe(ErrorCode.PermissionDenied);
    // A LOCAL flush (sent to every member) needs what a plain one does: the writer's read-write capability.
    expect(authorize(granted(rw), req(DataOp.Flush, { flags: DataFlag.Local }), stored, 3, now)).toBeUndefined();
    expect(authorize(granted(rw), req(DataOp.Flush, { flags: DataFlag.Local, generation: 2 }), stored, 3, now)?.code).toBe(ErrorCode.PermissionDenied);
    expect(authorize(newGrants(alice), req(DataOp.Flush, { flags: DataFlag.Local }), stored, 3, now)?.code).toBe(ErrorCode.Unauthenticated);
    expect(authorize(g, req(DataOp.Read), stored, 3, now)).toBeUndefined();
  });

  it('keeps write rights when the same connection also presents a read-only capability of the volume (a writer and a view of its snapshot)', () => {
    const g = granted(rw, { ...rw, mode: 'ro' });
    expect(authorize(g, req(DataOp.Write), stored, 3, now)).toBeUndefined();
    expect(authorize(g, req(DataOp.Snapshot), stored, 3, now)).toBeUndefined();
    // A newer generation's capability replaces it, read-only or not: the old writer was fenced.
    const next = granted(rw, { ...rw, mode: 'ro', generation: 4 });
    expect(authorize(next, req(DataOp.Write, { generation: 3 }), stored, 3, now)?.code).toBe(ErrorCode.PermissionDenied);
    // An expired read-write capability does not hold its place either.
    const g2 = newGrants(alice);
    expect(grant(g2, { ...rw, expiresAtMs: now - limits.capabilityClockSkewMs - 10 }, now - limits.capabilityClockSkewMs - 20)).toBeUndefined();
    expect(grant(g2, { ...rw, mode: 'ro' }, now)).toBeUndefined();
    expect(authorize(g2, req(DataOp.Write), stored, 3, now)?.code).toBe(ErrorCode.PermissionDenied);
  });

  it('refuses a SNAPSHOT under a read-only capability: it is the writer\'s', () => {
    const g = granted({ ...rw, mode: 'ro' });
    expect(authorize(g, req(DataOp.Snapshot), stored, 3, now)?.code).toBe(ErrorCode.PermissionDenied);
    expect(authorize(g, req(DataOp.SnapshotRead), stored, 3, now)).toBeUndefined();
  });

  it('refuses an expired capability, allowing for clock skew', () => {
    const g = granted(rw);
    expect(authorize(g, req(DataOp.Read), stored, 3, rw.expiresAtMs + limits.capabilityClockSkewMs)).toBeUndefined();
    expect(authorize(g, req(DataOp.Read), stored, 3, rw.expiresAtMs + limits.capabilityClockSkewMs + 1)?.code).toBe(ErrorCode.Unauthenticated);
    expect(grant(newGrants(alice), rw, rw.expiresAtMs + limits.capabilityClockSkewMs + 1)?.code).toBe(ErrorCode.Unauthenticated);
  });

  it('grants a capability only to the identity metad granted it to', () => {
    const mallory = newGrants('basalt:client/mallory@b');
    expect(grant(mallory, { ...rw, holder: alice }, now)).toMatchObject({ code: ErrorCode.Unauthenticated, message: expect.stringContaining('granted to basalt:client/alice@a, presented by basalt:client/mallory@b') });
    expect(authorize(mallory, req(DataOp.Read), stored, 0, now)?.code).toBe(ErrorCode.Unauthenticated);
    const peer = { kind: 'peer', serverId: 'a', expiresAtMs: now + 60_000, holder: 'basalt:chunkd/a' } as const;
    expect(grant(mallory, peer, now)?.code).toBe(ErrorCode.Unauthenticated);
    expect(mallory.peer).toBeUndefined();
    const own = granted({ ...rw, holder: alice });
    expect(authorize(own, req(DataOp.Write), stored, 0, now)).toBeUndefined();
  });

  it('drops a snapshot\'s blocks only under metad\'s grant that it was deleted, for that snapshot', () => {
    const drop = (snapshot: number): DataRequest => ({ ...req(DataOp.SnapshotDelete), length: 0, snapshot });
    const g = granted(rw);
    expect(authorize(g, drop(5), stored, 0, now)).toMatchObject({ code: ErrorCode.Unauthenticated, message: expect.stringContaining('GrantSnapshotDrop') });
    expect(grant(g, { kind: 'dropped', volumeId: 1, snapshotId: 5 }, now)).toBeUndefined();
    expect(authorize(g, drop(5), stored, 0, now)).toBeUndefined();
    expect(authorize(g, drop(6), stored, 0, now)?.code).toBe(ErrorCode.Unauthenticated);
    expect(authorize(g, { ...drop(5), extent: { ...req(DataOp.SnapshotDelete).extent, volumeId: 2 } }, stored, 0, now)?.code).toBe(ErrorCode.Unauthenticated);
  });

  it('refuses a replayed capability of an older writer generation after a new writer took the lease', () => {
    const g = granted(rw);
    expect(authorize(g, req(DataOp.Write, { generation: 3 }), stored, 4, now)?.code).toBe(ErrorCode.LeaseFenced);
    // Nor can the old writer claim the new generation with its old capability.
    expect(authorize(g, req(DataOp.Write, { generation: 4 }), stored, 4, now)?.code).toBe(ErrorCode.PermissionDenied);
  });

  it('takes a newer epoch or a new replica only with the extent state metad signed for it', () => {
    const ab = [r('a'), r('b')];
    const g = granted(rw);
    expect(authorize(g, req(DataOp.Write, { epoch: 3, replicas: ab }), stored, 3, now)?.code).toBe(ErrorCode.Unauthenticated);
    expect(authorize(g, req(DataOp.Write), undefined, 3, now)?.code).toBe(ErrorCode.Unauthenticated);
    expect(grant(g, { kind: 'extent', volumeId: 1, index: 0, epoch: 3, replicas: ab }, now)).toBeUndefined();
    expect(authorize(g, req(DataOp.Write, { epoch: 3, replicas: ab }), stored, 3, now)).toBeUndefined();
    // The same epoch with another set than the signed one (a forged set) is refused.
    expect(authorize(g, req(DataOp.Write, { epoch: 3, replicas: [r('a'), r('x')] }), stored, 3, now)?.code).toBe(ErrorCode.Unauthenticated);
    // At the stored epoch nothing changes: admission checks the set against the stored one.
    expect(authorize(g, req(DataOp.Write), stored, 3, now)).toBeUndefined();
    // A read of an extent the server does not hold creates nothing: no state needed.
    expect(authorize(g, req(DataOp.Read), undefined, 3, now)).toBeUndefined();
  });

  it('takes forwarded requests and copies only from a peer with a peer capability', () => {
    const fwd = req(DataOp.Write, { flags: DataFlag.Forwarded });
    expect(authorize(granted(rw), fwd, stored, 3, now)?.code).toBe(ErrorCode.Unauthenticated);
    const peer = granted({ kind: 'peer', serverId: 'a', expiresAtMs: now + 60_000 });
    expect(authorize(peer, fwd, stored, 3, now)).toBeUndefined();
    expect(authorize(peer, req(DataOp.Stamps, { volumeId: 9 }), { ...stored, volumeId: 9 }, 0, now)).toBeUndefined();
    expect(authorize(peer, fwd, stored, 3, now + 61_000 + limits.capabilityClockSkewMs)?.code).toBe(ErrorCode.Unauthenticated);
  });

  it('keeps at most chunkGrantsPerConnectionMax extent states per connection', () => {
    const g = newGrants(alice);
    for (let i = 0; i <= limits.chunkGrantsPerConnectionMax; i++) grant(g, { kind: 'extent', volumeId: 1, index: i, epoch: 1, replicas: abc }, now);
    expect(g.extents.size).toBe(limits.chunkGrantsPerConnectionMax);
    expect(g.extents.has('1/0/1')).toBe(false);
  });
});
