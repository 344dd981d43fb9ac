export * from './assert.js';
export * from './errors.js';
export * from './prng.js';
export * from './clock.js';
export * from './limits.js';
export * from './log-line.js';
export * from './volume-labels.js';
