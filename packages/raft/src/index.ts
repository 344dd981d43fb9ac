export * from './core/types.js';
export * from './core/conf-change-codec.js';
export * from './core/memory-storage.js';
export * from './core/raw-node.js';
export * from './core/ready-driver.js';
