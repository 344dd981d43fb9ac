export * from './state/index.js';
export * from './server/index.js';
