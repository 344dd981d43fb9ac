export * from './constants.js';
export * from './byte-queue.js';
export * from './option-codec.js';
export * from './negotiation.js';
export * from './request-codec.js';
export * from './request-check.js';
