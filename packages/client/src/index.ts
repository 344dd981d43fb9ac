export { connect, BasaltClient, type ConnectOptions, type OpenOptions, type CreateVolumeOptions } from './basalt-client.js';
export { backoffMs } from './backoff.js';
export { Volume, mutationFailover, type VolumeDescriptor, type AllocationRun, type VolumeEvent } from './volume.js';
export { ClientMetrics, type ClientOpName } from './client-metrics.js';
export { splitByExtent, type ExtentSlice } from './split.js';
export { BasaltError, ErrorCode, isBasaltError } from '@basalt/stdx';
