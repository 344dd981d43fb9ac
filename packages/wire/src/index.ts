export * from './meta/index.js';
export * from './data/index.js';
