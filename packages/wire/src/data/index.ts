export * from './constants.js';
export * from './codec.js';
export * from './pieces.js';
export * from './frame-splitter.js';
export * from './frame-pool.js';
export * from './data-connection.js';
export * from './socket-batch.js';
export * from './stamp.js';
