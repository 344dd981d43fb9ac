import { ErrorCode, type ErrorCode as Code } from '@basalt/stdx';
import { DataFlag, DataOp, type DataRequest } from '@basalt/wire';
import { sameReplicas, type ReplicaMeta } from './replica-meta.js';

/**
 * Decides whether a chunk server may serve a data-plane request, from its own knowledge of the
 * extent and the replica set at the epoch the request carries. Pure and synchronous.
 *
 * Invariants:
 * - the epoch a server holds for an extent never decreases;
 * - a request with an older epoch than the server's is refused (fences old primaries and
 *   clients with old maps, and COPY from anyone but the current primary);
 * - a newer epoch is adopted only when it lists this server; otherwise the replica is fenced
 *   (it never serves again unless a newer epoch lists it as a rebuilding member: then it rejoins
 *   with its data and stamps, and the primary's catch-up copies what changed);
 * - only the primary (replicas[0]) accepts mutations from clients; only the other members
 *   accept mutations forwarded by a primary, and COPY;
 * - a client FLUSH is the primary's (it syncs and forwards) unless flagged LOCAL: then every
 *   member of the set at the request's epoch takes it (primary, secondary, rebuilding) and syncs
 *   its own replica only, under the same epoch and set checks as any request. LOCAL on another op,
 *   or with FORWARDED, is a protocol error: LOCAL asks for less than the op's usual effect, which
 *   only a flush can safely do (a write applied on one replica only would leave the set diverged);
 * - the primary forwards the write stream, plain FLUSH and SNAPSHOT_DELETE (forwardedByPrimary);
 * - a rebuilding member serves no client reads (its copy is not complete);
 * - a mutation with an older volume generation than one seen before is refused (lease fencing).
 */
export type Role = 'primary' | 'secondary' | 'rebuilding';

export type Admission =
  | { readonly kind: 'accept'; readonly role: Role; readonly adopt?: ReplicaMeta }
  | { readonly kind: 'refuse'; readonly code: Code; readonly message: string; readonly fence?: ReplicaMeta };

export function isMutation(op: number): boolean {
  return op === DataOp.Write || op === DataOp.Trim || op === DataOp.WriteZeroes;
}

/** Ops the primary stamps and forwards in the write stream: mutations and SNAPSHOT (a writer's op too, lease fenced). */
export function takesStamp(op: number): boolean {
  return isMutation(op) || op === DataOp.Snapshot;
}

/** Ops only the primary takes from a client and forwards to the members. */
function primaryOnly(op: number): boolean {
  return takesStamp(op) || op === DataOp.Flush || op === DataOp.Copy || op === DataOp.SnapshotDelete || op === DataOp.SnapshotInstall;
}

/** A client FLUSH of the receiving replica only (DataFlag.Local): never forwarded. */
export function isLocalFlush(req: DataRequest): boolean {
  return req.op === DataOp.Flush && (req.flags & DataFlag.Local) !== 0;
}

/** Requests the primary forwards to the other members once admitted. */
export function forwardedByPrimary(req: DataRequest): boolean {
  return takesStamp(req.op) || req.op === DataOp.SnapshotDelete || (req.op === DataOp.Flush && !isLocalFlush(req));
}

/** Requests that create the replica on a server that holds none. */
export function createsReplica(op: number): boolean {
  return takesStamp(op) || op === DataOp.Copy;
}

function refuse(code: Code, message: string, fence?: ReplicaMeta): Admission {
  return fence === undefined ? { kind: 'refuse', code, message } : { kind: 'refuse', code, message, fence };
}

export function admit(selfId: string, local: ReplicaMeta | undefined, req: DataRequest, knownGeneration: number): Admission {
  const ext = req.extent;
  const forwarded = (req.flags & DataFlag.Forwarded) !== 0;
  const localOnly = (req.flags & DataFlag.Local) !== 0;
  if (localOnly && req.op !== DataOp.Flush) return refuse(ErrorCode.Protocol, 'LOCAL applies to flush only');
  if (localOnly && forwarded) return refuse(ErrorCode.Protocol, 'a flush is either forwarded by a primary or LOCAL from a client, not both');
  if (local !== undefined && local.extentSizeBytes !== ext.extentSizeBytes) {
    return refuse(ErrorCode.InvalidArgument, `extent size ${ext.extentSizeBytes} differs from the stored ${local.extentSizeBytes}`);
  }
  if (local !== undefined && ext.epoch < local.epoch) {
    return refuse(ErrorCode.StaleEpoch, `epoch ${ext.epoch} is older than this server's ${local.epoch}`);
  }
  const position = ext.replicas.findIndex((r) => r.serverId === selfId);
  const rebuilding = position > 0 && ext.replicas[position]!.rebuilding === true;
  if (local !== undefined && local.state === 'fenced' && !(rebuilding && ext.epoch > local.epoch)) {
    return refuse(ErrorCode.StaleEpoch, `this replica was fenced at epoch ${local.epoch}`);
  }
  if (position < 0) {
    const fence = local === undefined || ext.epoch === local.epoch ? undefined : { ...local, epoch: ext.epoch, replicas: [], state: 'fenced' as const };
    return refuse(ErrorCode.StaleEpoch, `server ${selfId} is not in the replica set at epoch ${ext.epoch}`, fence);
  }
  if (ext.replicas[0]!.rebuilding === true) return refuse(ErrorCode.Protocol, 'a replica set whose primary is rebuilding');
  if (local !== undefined && ext.epoch === local.epoch && !sameReplicas(local.replicas, ext.replicas)) {
    return refuse(ErrorCode.Protocol, `replica set differs from this server's at the same epoch ${ext.epoch}`);
  }
  const role: Role = position === 0 ? 'primary' : rebuilding ? 'rebuilding' : 'secondary';
  if (primaryOnly(req.op) && !localOnly) {
    if (!forwarded && role !== 'primary') return refuse(ErrorCode.NotPrimary, `server ${selfId} is not the primary at epoch ${ext.epoch}; ${ext.replicas[0]!.serverId} is`);
    if (forwarded && role === 'primary') return refuse(ErrorCode.Protocol, `a forwarded ${req.op === DataOp.Copy ? 'copy' : 'request'} reached the primary`);
  }
  if ((req.op === DataOp.Read || req.op === DataOp.SnapshotRead || req.op === DataOp.SnapshotDiff) && role === 'rebuilding') {
    return refuse(ErrorCode.Unavailable, `server ${selfId} is rebuilding its replica of extent ${ext.volumeId}/${ext.index} at epoch ${ext.epoch}: read another member`);
  }
  if (takesStamp(req.op) && ext.generation < knownGeneration) {
    return refuse(ErrorCode.LeaseFenced, `volume generation ${ext.generation} is older than ${knownGeneration}: a newer writer holds the lease`);
  }
  if (local === undefined || ext.epoch > local.epoch) {
    const adopt: ReplicaMeta =
      local === undefined
        ? { volumeId: ext.volumeId, index: ext.index, extentSizeBytes: ext.extentSizeBytes, epoch: ext.epoch, replicas: ext.replicas, version: 0, state: 'active' }
        : { ...local, epoch: ext.epoch, replicas: ext.replicas, state: 'active' };
    return { kind: 'accept', role, adopt };
  }
  return { kind: 'accept', role };
}
