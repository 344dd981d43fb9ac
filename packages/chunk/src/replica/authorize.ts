import { ErrorCode, limits, type ErrorCode as Code } from '@basalt/stdx';
import { DataFlag, DataOp, type CapabilityClaims, type ClientClaims, type DataRequest, type DroppedClaims, type ExtentClaims, type PeerClaims } from '@basalt/wire';
import { createsReplica, takesStamp } from './admission.js';
import { sameReplicas, type ReplicaMeta } from './replica-meta.js';

/**
 * Whether a connection may make a data-plane request, from the tokens it presented (AUTH) and
 * whose signatures the server already verified (docs/data-path.md, "Capabilities"). Pure and
 * synchronous: per request a map lookup and a few comparisons, no cryptography.
 *
 * Invariants:
 * - a client request is served only under an unexpired client capability for its volume that
 *   covers its extent (else Unauthenticated: a new capability may cover it, after a resize); mutations and flushes only under a read-write one, at the capability's
 *   writer generation, and not when the server has seen a newer generation;
 * - a client or peer capability that names a holder is granted only to a connection whose peer
 *   proved that identity (its certificate): a token copied to another peer grants nothing;
 * - forwarded requests and COPY (a primary's) only under an unexpired peer capability; a peer
 *   capability also covers a peer's reads and STAMPS (the scrubber's comparisons);
 * - a client's SNAPSHOT_DELETE drops a snapshot's blocks only under metad's `dropped` grant for
 *   that volume and snapshot id (metad gives it only once it deleted the snapshot for good), so a
 *   capability to read a volume does not destroy a snapshot metad still lists;
 * - a request may raise a server's epoch for an extent, create its replica or fence it only with
 *   an extent state that metad signed for exactly that epoch and replica set. Requests at the
 *   server's epoch or below change nothing that admission (admission.ts) does not already
 *   check against the stored set.
 */
export interface Grants {
  /** Client capabilities by volume id: the last one presented for each, unless it would take write rights away (`supersedes`). */
  readonly clients: Map<number, ClientClaims>;
  /** Extent states by `volume/index/epoch`. */
  readonly extents: Map<string, ExtentClaims>;
  /** Grants to drop deleted snapshots' blocks, by `volume/snapshotId`. */
  readonly dropped: Map<string, DroppedClaims>;
  peer: PeerClaims | undefined;
  /** The identity URI the connection's peer proved (TransportSecurity.peerIdentityOfSocket). */
  readonly presenter: string;
}

export type Refusal = { readonly code: Code; readonly message: string };

export function newGrants(presenter: string): Grants {
  return { clients: new Map(), extents: new Map(), dropped: new Map(), peer: undefined, presenter };
}

export function extentKey(volumeId: number, index: number, epoch: number): string {
  return `${volumeId}/${index}/${epoch}`;
}

/** Still valid at nowMs (the server's clock), allowing for clocks up to capabilityClockSkewMs apart. */
export function unexpired(claims: { readonly expiresAtMs: number }, nowMs: number): boolean {
  return nowMs <= claims.expiresAtMs + limits.capabilityClockSkewMs;
}

/** Records verified claims on a connection; an expired capability, or one granted to another identity, is refused. At most chunkGrantsPerConnectionMax per map. */
export function grant(grants: Grants, claims: CapabilityClaims, nowMs: number): Refusal | undefined {
  if (claims.kind === 'dropped') {
    bounded(grants.dropped, `${claims.volumeId}/${claims.snapshotId}`, claims);
    return undefined;
  }
  if (claims.kind !== 'extent' && !unexpired(claims, nowMs)) return { code: ErrorCode.Unauthenticated, message: `capability expired (at ${claims.expiresAtMs} ms since the Unix epoch, metad's clock)` };
  if (claims.kind !== 'extent' && claims.holder !== undefined && claims.holder !== grants.presenter) return { code: ErrorCode.Unauthenticated, message: `capability granted to ${claims.holder}, presented by ${grants.presenter}` };
  if (claims.kind === 'peer') grants.peer = claims;
  else if (claims.kind === 'client') {
    const held = grants.clients.get(claims.volumeId);
    if (held === undefined || supersedes(claims, held, nowMs)) bounded(grants.clients, claims.volumeId, claims);
  }
  else bounded(grants.extents, extentKey(claims.volumeId, claims.index, claims.epoch), claims);
  return undefined;
}

/**
 * Whether a client capability replaces the one a connection holds for the volume. One process may
 * open a volume twice over one connection (a writer and a read-only view of its snapshot, as a
 * rollback does): a read-only capability of the same or an older generation does not take write
 * rights away from a live read-write one, whose rights include reading.
 */
function supersedes(next: ClientClaims, held: ClientClaims, nowMs: number): boolean {
  return !(held.mode === 'rw' && next.mode === 'ro' && next.generation <= held.generation && unexpired(held, nowMs));
}

function bounded<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > limits.chunkGrantsPerConnectionMax) map.delete(map.keys().next().value as K);
}

/**
 * The refusal for a request, or undefined when the grants allow it. `local` is the server's
 * record of the extent, `knownGeneration` the highest writer generation it saw for the volume.
 */
export function authorize(grants: Grants, req: DataRequest, local: ReplicaMeta | undefined, knownGeneration: number, nowMs: number): Refusal | undefined {
  const who = (req.flags & DataFlag.Forwarded) !== 0 || req.op === DataOp.Copy ? authorizePeer(grants, nowMs) : authorizeCaller(grants, req, knownGeneration, nowMs);
  return who ?? authorizeEpoch(grants, req, local);
}

function authorizePeer(grants: Grants, nowMs: number): Refusal | undefined {
  if (grants.peer === undefined) return { code: ErrorCode.Unauthenticated, message: 'a forwarded request or copy needs a chunk server\'s peer capability on its connection' };
  if (!unexpired(grants.peer, nowMs)) return { code: ErrorCode.Unauthenticated, message: `the peer capability of ${grants.peer.serverId} expired` };
  return undefined;
}

function authorizeCaller(grants: Grants, req: DataRequest, knownGeneration: number, nowMs: number): Refusal | undefined {
  if (grants.peer !== undefined && unexpired(grants.peer, nowMs)) return undefined;
  const ext = req.extent;
  const cap = grants.clients.get(ext.volumeId);
  if (cap === undefined) return { code: ErrorCode.Unauthenticated, message: `no capability for volume ${ext.volumeId} on this connection` };
  if (!unexpired(cap, nowMs)) return { code: ErrorCode.Unauthenticated, message: `the capability for volume ${ext.volumeId} expired` };
  // Unauthenticated, not denied: a volume that grew past the capability's range gets a wider one with the next map fetch.
  if (ext.index < cap.firstIndex || ext.index >= cap.endIndex) {
    return { code: ErrorCode.Unauthenticated, message: `the capability for volume ${ext.volumeId} covers extents [${cap.firstIndex}, ${cap.endIndex}), not ${ext.index}` };
  }
  if (req.op === DataOp.SnapshotDelete && !grants.dropped.has(`${ext.volumeId}/${req.snapshot ?? 0}`)) {
    return { code: ErrorCode.Unauthenticated, message: `dropping snapshot ${req.snapshot ?? 0} of volume ${ext.volumeId} needs metad's grant that it was deleted (GrantSnapshotDrop)` };
  }
  // Writes, FLUSH and SNAPSHOT are the writer's (SNAPSHOT is stamped in its write stream); reads,
  // STAMPS, SNAPSHOT_READ, SNAPSHOT_DIFF and SNAPSHOT_DELETE (under its grant) are not.
  if (!takesStamp(req.op) && req.op !== DataOp.Flush) return undefined;
  if (cap.mode !== 'rw') return { code: ErrorCode.PermissionDenied, message: `the capability for volume ${ext.volumeId} is read-only` };
  if (ext.generation !== cap.generation) {
    return { code: ErrorCode.PermissionDenied, message: `the capability for volume ${ext.volumeId} allows writes at generation ${cap.generation}, not ${ext.generation}` };
  }
  if (cap.generation < knownGeneration) {
    return { code: ErrorCode.LeaseFenced, message: `the capability for volume ${ext.volumeId} is for generation ${cap.generation}, older than ${knownGeneration}: a newer writer holds the lease` };
  }
  return undefined;
}

function authorizeEpoch(grants: Grants, req: DataRequest, local: ReplicaMeta | undefined): Refusal | undefined {
  const ext = req.extent;
  const changes = local === undefined ? createsReplica(req.op) : ext.epoch > local.epoch;
  if (!changes) return undefined;
  const signed = grants.extents.get(extentKey(ext.volumeId, ext.index, ext.epoch));
  if (signed !== undefined && sameReplicas(signed.replicas, ext.replicas)) return undefined;
  return {
    code: ErrorCode.Unauthenticated,
    message: `epoch ${ext.epoch} and the replica set of extent ${ext.volumeId}/${ext.index} are not what metad signed (${signed === undefined ? 'no signed state for that epoch on this connection' : 'the signed set differs'})`,
  };
}
