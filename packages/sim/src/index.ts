/**
 * @basalt/sim: the whole-cluster deterministic simulation of the data path (docs/data-path.md,
 * "Simulation"). It depends on meta, chunk and client, and nothing depends on it.
 */
export { runClusterSim, formatFailure, replayCommand, clusterDefaults, type ClusterSimOptions, type ClusterSimResult, type ClusterSimStats } from './cluster-sim.js';
export type { Violation, ViolationKind } from './checkers.js';
