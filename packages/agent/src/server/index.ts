export * from './nbd-server.js';
export * from './metrics.js';
export * from './metrics-http.js';
