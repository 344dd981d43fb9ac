/**
 * Data-path rule breakers for the whole-cluster simulation (packages/sim), like packages/raft's
 * unsafeTestingKnobs: each turns off one safety rule so that a test can assert that the
 * simulation's checkers notice. Off by default; chunkd has no flag or option that sets them (only
 * code that constructs ChunkService, Replicator or RebuildExecutor itself can).
 *
 * - ackBeforeReplicated: the primary acknowledges a mutation once it applied it locally, without
 *   waiting for the other members (the forwards still go out).
 * - acceptWhileFenced: a fenced replica accepts client mutations as if it were the primary, and
 *   applies them alone.
 * - promoteBeforeCopy: the rebuild executor compares stamps once, then promotes the rebuilding member without copying to it
 *   (the member is counted as active before it holds the data).
 */
export const chunkUnsafeTestingKnobNames = ['ackBeforeReplicated', 'acceptWhileFenced', 'promoteBeforeCopy'] as const;
export type ChunkUnsafeTestingKnob = (typeof chunkUnsafeTestingKnobNames)[number];
export type ChunkUnsafeTestingKnobs = { readonly [K in ChunkUnsafeTestingKnob]?: boolean };
