export { startCsiServer, socketPathOf, type CsiServerOptions, type RunningCsiServer } from './csi-server.js';
export { driverName, type CsiMode } from './identity.js';
export { zoneKey } from './core/topology.js';
export { parameterKeys, parseParameters, type VolumeParameters } from './core/parameters.js';
