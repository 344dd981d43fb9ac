export * from './meta/index.js';
export * from './data/index.js';
export * from './csi/csi-service.js';
export * from './security/index.js';
