export * from './transport-security.js';
export * from './tls-flags.js';
export * from './metrics-server.js';
