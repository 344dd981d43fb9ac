/**
 * @basalt/raft/testing: the linearizability checker (with its key-value
 * register model) and the deterministic cluster simulation with its checkers.
 */
export * from './linearizability.js';
export * from './kv-model.js';
export * from './safety-checker.js';
export { runSimulation, runSimulationCatching, formatFailure, replayCommand, profiles, type ProfileName, type SimOptions, type SimResult, type SimStats } from './simulation.js';
export { runSwarm, describeFailures, type SwarmSummary } from './swarm.js';
export type { FaultPlan } from './fault-plan.js';
export { EventQueue } from './event-queue.js';
