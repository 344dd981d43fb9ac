export * from './grpc-method.js';
export * from './meta-service.js';
export * from './raft-frames.js';
export * from './meta-frames.js';
export * from './errors.js';
export * from './endpoints.js';
export * from './meta-connection.js';
export * from './meta-client.js';
