export { connect, BasaltClient, type ConnectOptions, type OpenOptions, type CreateVolumeOptions, type SetLabelOptions } from './basalt-client.js';
export { backoffMs } from './backoff.js';
export { Volume, mutationFailover, type VolumeDescriptor, type AllocationRun, type VolumeEvent } from './volume.js';
export type { VolumeInfo, Lease, ServerInfo, ServerState, RepairStatus, DegradedExtent, ExtentPlacement, MemberStatus, MemberRole, Member } from './cluster-types.js';
export { attachVolumeDevice, detachVolumeDevice, findFreeDevice, isNbdDevice, nbdClientAttachArgs, nbdClientDetachArgs, type AttachSpec } from './kernel-attach.js';
export { ClientMetrics, type ClientOpName } from './client-metrics.js';
export { splitByExtent, type ExtentSlice } from './split.js';
export { BasaltError, ErrorCode, isBasaltError } from '@basalt/stdx';
export { TransportSecurity, type TlsFiles } from '@basalt/wire';
