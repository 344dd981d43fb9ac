export * from './block-device.js';
export * from './agent.js';
export * from './server/index.js';
export * from './cluster-provider.js';
export * from './write-cache.js';
export { startVolumeThread, type VolumeThread, type VolumeThreadConfig } from './volume-thread/start-volume-thread.js';
