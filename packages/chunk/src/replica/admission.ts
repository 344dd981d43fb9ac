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
 *   clients with old maps);
 * - a newer epoch is adopted only when it lists this server; otherwise the replica is fenced
 *   for good (a removed replica never serves again without a rebuild);
 * - only the primary (replicas[0]) accepts mutations from clients; only the other members
 *   accept mutations forwarded by a primary;
 * - a mutation with an older volume generation than one seen before is refused (lease fencing).
 */
export type Admission =
  | { readonly kind: 'accept'; readonly role: 'primary' | 'secondary'; readonly adopt?: ReplicaMeta }
  | { readonly kind: 'refuse'; readonly code: Code; readonly message: string; readonly fence?: ReplicaMeta };

export function isMutation(op: number): boolean {
  return op === DataOp.Write || op === DataOp.Trim || op === DataOp.WriteZeroes;
}

function refuse(code: Code, message: string, fence?: ReplicaMeta): Admission {
  return fence === undefined ? { kind: 'refuse', code, message } : { kind: 'refuse', code, message, fence };
}

export function admit(selfId: string, local: ReplicaMeta | undefined, req: DataRequest, knownGeneration: number): Admission {
  const ext = req.extent;
  if (local !== undefined && local.extentSizeBytes !== ext.extentSizeBytes) {
    return refuse(ErrorCode.InvalidArgument, `extent size ${ext.extentSizeBytes} differs from the stored ${local.extentSizeBytes}`);
  }
  if (local !== undefined && ext.epoch < local.epoch) {
    return refuse(ErrorCode.StaleEpoch, `epoch ${ext.epoch} is older than this server's ${local.epoch}`);
  }
  if (local !== undefined && local.state === 'fenced') {
    return refuse(ErrorCode.StaleEpoch, `this replica was fenced at epoch ${local.epoch}`);
  }
  const position = ext.replicas.findIndex((r) => r.serverId === selfId);
  if (position < 0) {
    const fence = local === undefined || ext.epoch === local.epoch ? undefined : { ...local, epoch: ext.epoch, replicas: [], state: 'fenced' as const };
    return refuse(ErrorCode.StaleEpoch, `server ${selfId} is not in the replica set at epoch ${ext.epoch}`, fence);
  }
  if (local !== undefined && ext.epoch === local.epoch && !sameReplicas(local.replicas, ext.replicas)) {
    return refuse(ErrorCode.Protocol, `replica set differs from this server's at the same epoch ${ext.epoch}`);
  }
  const forwarded = (req.flags & DataFlag.Forwarded) !== 0;
  const role = position === 0 ? 'primary' : 'secondary';
  if (isMutation(req.op) || req.op === DataOp.Flush) {
    if (!forwarded && role !== 'primary') return refuse(ErrorCode.NotPrimary, `server ${selfId} is not the primary at epoch ${ext.epoch}; ${ext.replicas[0]!.serverId} is`);
    if (forwarded && role !== 'secondary') return refuse(ErrorCode.Protocol, 'a forwarded request reached the primary');
  }
  if (isMutation(req.op) && ext.generation < knownGeneration) {
    return refuse(ErrorCode.LeaseFenced, `volume generation ${ext.generation} is older than ${knownGeneration}: a newer writer holds the lease`);
  }
  if (local === undefined || ext.epoch > local.epoch) {
    const base = local ?? { volumeId: ext.volumeId, index: ext.index, extentSizeBytes: ext.extentSizeBytes, version: 0, state: 'active' as const };
    return { kind: 'accept', role, adopt: { ...base, epoch: ext.epoch, replicas: ext.replicas } };
  }
  return { kind: 'accept', role };
}
