import { basalt } from '../gen/proto.js';
import { unaryMethod } from './grpc-method.js';

/** The protobuf messages of proto/meta.proto. */
export import pb = basalt.meta;

const service = 'basalt.meta.Meta';

/**
 * The Meta service (proto/meta.proto) as a grpc-js service definition. Keys are the method names
 * in camelCase; the server implements them and MetaClient calls them.
 */
export const metaService = {
  createVolume: unaryMethod(service, 'CreateVolume', pb.CreateVolumeRequest, pb.VolumeReply),
  listVolumes: unaryMethod(service, 'ListVolumes', pb.ListVolumesRequest, pb.ListVolumesReply),
  getVolume: unaryMethod(service, 'GetVolume', pb.GetVolumeRequest, pb.VolumeReply),
  resizeVolume: unaryMethod(service, 'ResizeVolume', pb.ResizeVolumeRequest, pb.VolumeReply),
  deleteVolume: unaryMethod(service, 'DeleteVolume', pb.DeleteVolumeRequest, pb.DeleteVolumeReply),
  setVolumeLabel: unaryMethod(service, 'SetVolumeLabel', pb.SetVolumeLabelRequest, pb.VolumeReply),
  getExtentMap: unaryMethod(service, 'GetExtentMap', pb.GetExtentMapRequest, pb.ExtentMapReply),
  allocateExtent: unaryMethod(service, 'AllocateExtent', pb.AllocateExtentRequest, pb.ExtentReply),
  dropReplica: unaryMethod(service, 'DropReplica', pb.DropReplicaRequest, pb.ExtentReply),
  promoteReplica: unaryMethod(service, 'PromoteReplica', pb.PromoteReplicaRequest, pb.ExtentReply),
  listRepairTasks: unaryMethod(service, 'ListRepairTasks', pb.ListRepairTasksRequest, pb.ListRepairTasksReply),
  acquireLease: unaryMethod(service, 'AcquireLease', pb.AcquireLeaseRequest, pb.LeaseReply),
  releaseLease: unaryMethod(service, 'ReleaseLease', pb.ReleaseLeaseRequest, pb.ReleaseLeaseReply),
  registerServer: unaryMethod(service, 'RegisterServer', pb.RegisterServerRequest, pb.ServerReply),
  heartbeat: unaryMethod(service, 'Heartbeat', pb.HeartbeatRequest, pb.HeartbeatReply),
  listServers: unaryMethod(service, 'ListServers', pb.ListServersRequest, pb.ListServersReply),
  listDegradedExtents: unaryMethod(service, 'ListDegradedExtents', pb.ListDegradedExtentsRequest, pb.ListDegradedExtentsReply),
  drainServer: unaryMethod(service, 'DrainServer', pb.DrainServerRequest, pb.ServerReply),
  markServerOut: unaryMethod(service, 'MarkServerOut', pb.MarkServerOutRequest, pb.ServerReply),
  removeServer: unaryMethod(service, 'RemoveServer', pb.RemoveServerRequest, pb.ServerReply),
  getRepairStatus: unaryMethod(service, 'GetRepairStatus', pb.GetRepairStatusRequest, pb.RepairStatusReply),
  status: unaryMethod(service, 'Status', pb.StatusRequest, pb.StatusReply),
  listMembers: unaryMethod(service, 'ListMembers', pb.ListMembersRequest, pb.ListMembersReply),
  addMember: unaryMethod(service, 'AddMember', pb.AddMemberRequest, pb.ListMembersReply),
  removeMember: unaryMethod(service, 'RemoveMember', pb.RemoveMemberRequest, pb.ListMembersReply),
  promoteMember: unaryMethod(service, 'PromoteMember', pb.PromoteMemberRequest, pb.ListMembersReply),
  transferLeader: unaryMethod(service, 'TransferLeader', pb.TransferLeaderRequest, pb.StatusReply),
  createTenant: unaryMethod(service, 'CreateTenant', pb.CreateTenantRequest, pb.TenantReply),
  listTenants: unaryMethod(service, 'ListTenants', pb.ListTenantsRequest, pb.ListTenantsReply),
  deleteTenant: unaryMethod(service, 'DeleteTenant', pb.DeleteTenantRequest, pb.DeleteTenantReply),
  setTenantQuota: unaryMethod(service, 'SetTenantQuota', pb.SetTenantQuotaRequest, pb.TenantReply),
  listAudit: unaryMethod(service, 'ListAudit', pb.ListAuditRequest, pb.ListAuditReply),
  revokeCertificate: unaryMethod(service, 'RevokeCertificate', pb.RevokeCertificateRequest, pb.RevocationsReply),
  listRevocations: unaryMethod(service, 'ListRevocations', pb.ListRevocationsRequest, pb.RevocationsReply),
  createSnapshot: unaryMethod(service, 'CreateSnapshot', pb.SnapshotRequest, pb.SnapshotReply),
  commitSnapshot: unaryMethod(service, 'CommitSnapshot', pb.SnapshotRequest, pb.SnapshotReply),
  deleteSnapshot: unaryMethod(service, 'DeleteSnapshot', pb.SnapshotRequest, pb.SnapshotReply),
  listSnapshots: unaryMethod(service, 'ListSnapshots', pb.ListSnapshotsRequest, pb.ListSnapshotsReply),
  cloneVolume: unaryMethod(service, 'CloneVolume', pb.CloneVolumeRequest, pb.VolumeReply),
  flattenVolume: unaryMethod(service, 'FlattenVolume', pb.FlattenVolumeRequest, pb.VolumeReply),
  requestSnapshot: unaryMethod(service, 'RequestSnapshot', pb.SnapshotRequest, pb.SnapshotReply),
  requestFlatten: unaryMethod(service, 'RequestFlatten', pb.RequestFlattenRequest, pb.VolumeReply),
  reportFlatten: unaryMethod(service, 'ReportFlatten', pb.ReportFlattenRequest, pb.VolumeReply),
  grantSnapshotDrop: unaryMethod(service, 'GrantSnapshotDrop', pb.GrantSnapshotDropRequest, pb.GrantSnapshotDropReply),
} as const;

export type MetaService = typeof metaService;
export type MetaMethodName = keyof MetaService;

/** The request a method takes (plain object, fields optional). */
export type MetaRequest<K extends MetaMethodName> = Parameters<MetaService[K]['requestSerialize']>[0];
/**
 * The reply a method's caller receives, typed as decoding makes it: every scalar, repeated and
 * map field present (proto3 defaults), at every depth; a nested message field may be null.
 */
export type MetaReply<K extends MetaMethodName> = DecodedMessage<ReturnType<MetaService[K]['responseDeserialize']>>;

type Scalar = string | number | boolean | Uint8Array;

/** A decoded protobufjs message: generated `$Properties` types mark every field optional. */
export type DecodedMessage<T> = T extends Scalar
  ? T
  : T extends readonly (infer U)[]
    ? DecodedMessage<NonNullable<U>>[]
    : { [K in keyof T as K extends '$unknowns' | 'toJSON' ? never : K]-?: DecodedField<T[K]> };

type DecodedField<F> = NonNullable<F> extends Scalar
  ? NonNullable<F>
  : NonNullable<F> extends readonly unknown[]
    ? DecodedMessage<NonNullable<F>>
    : NonNullable<F> extends Record<string, string>
      ? NonNullable<F>
      : DecodedMessage<NonNullable<F>> | null;
/** What a server handler receives. */
export type MetaServerRequest<K extends MetaMethodName> = ReturnType<MetaService[K]['requestDeserialize']>;
/** What a server handler returns. */
export type MetaServerReply<K extends MetaMethodName> = Parameters<MetaService[K]['responseSerialize']>[0];

/**
 * Methods that change nothing: safe to retry after an unknown outcome. Every other method is a
 * mutation, retried by MetaClient only when it cannot have taken effect (see meta-client.ts),
 * unless it is one of retrySafeMethods.
 */
export const readOnlyMethods: ReadonlySet<MetaMethodName> = new Set<MetaMethodName>([
  'listVolumes', 'getVolume', 'getExtentMap', 'listServers', 'status', 'listMembers', 'listDegradedExtents',
  'listRepairTasks', 'getRepairStatus', 'listTenants', 'listAudit', 'listRevocations', 'listSnapshots', 'grantSnapshotDrop',
]);

/**
 * Mutations that may be sent again after an unknown outcome (a timeout, a lost connection)
 * because a repeat of one that was applied changes nothing more:
 * - allocateExtent returns an allocated extent as it is (`created: false`);
 * - dropReplica is conditional on `expectedEpoch`: a repeat after success gets
 *   BASALT_STALE_EPOCH, and its callers then re-read the extent;
 * - releaseLease of a lease already released at the current generation succeeds;
 * - registerServer and heartbeat overwrite the server's record with the same facts;
 * - promoteReplica is conditional on `expectedEpoch` like dropReplica;
 * - drainServer and markServerOut set a state the repeat sets again;
 * - removeServer repeated after success gets BASALT_SERVER_NOT_FOUND: the server is gone;
 * - setTenantQuota sets quotas the repeat sets again;
 * - commitSnapshot marks a snapshot ready again; flattenVolume of a flattened clone changes nothing;
 * - requestSnapshot of a snapshot still requested returns that request (once the holder took it,
 *   BASALT_SNAPSHOT_EXISTS: the asker then waits for that snapshot); requestFlatten keeps the first
 *   request; reportFlatten overwrites the progress.
 * MetaClient retries them like reads, within the call's deadline.
 */
export const retrySafeMethods: ReadonlySet<MetaMethodName> = new Set<MetaMethodName>([
  'allocateExtent', 'dropReplica', 'promoteReplica', 'releaseLease', 'registerServer', 'heartbeat',
  'drainServer', 'markServerOut', 'removeServer', 'setTenantQuota', 'revokeCertificate', 'commitSnapshot', 'flattenVolume',
  'requestSnapshot', 'requestFlatten', 'reportFlatten',
]);
