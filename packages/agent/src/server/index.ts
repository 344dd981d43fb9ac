export * from './nbd-server.js';
export * from './metrics.js';
