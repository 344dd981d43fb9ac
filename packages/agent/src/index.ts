export * from './block-device.js';
export * from './agent.js';
export * from './server/index.js';
export * from './cluster-provider.js';
export * from './write-cache.js';
