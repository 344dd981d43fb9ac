export * from './block-device.js';
export * from './agent.js';
export * from './server/index.js';
export * from './cluster-provider.js';
export * from './write-cache.js';
export { attachVolumeThread, startVolumeThread, type VolumeThread, type VolumeThreadConfig } from './volume-thread/start-volume-thread.js';
export { ThreadVolumeProvider } from './volume-thread/thread-provider.js';
export { serveVolumes } from './volume-thread/serve-volumes.js';
export { MessageBatch } from './volume-thread/message-batch.js';
