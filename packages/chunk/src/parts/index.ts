/**
 * @basalt/chunk/parts: the pieces chunkd is assembled from, for code that assembles them over
 * other I/O: the whole-cluster simulation (packages/sim) runs these classes over
 * MemoryExtentStore, a simulated network (PeerConnect), simulated timers and a MetaLink of its own.
 */
export { ChunkService } from '../server/chunk-service.js';
export { Replicator } from '../server/replicator.js';
export { Peer, tcpPeerConnect, type PeerConnect, type PeerConnection } from '../server/peer.js';
export { Heartbeat } from '../server/heartbeat.js';
export { ChunkMetrics } from '../server/metrics.js';
export { fenceDroppedReplicas } from '../server/reconcile.js';
export { registersAgain, type MetaLink, type ExtentPlacement, type ServerReport, type RepairTask, type DropReason, type VolumeCensus } from '../server/meta-link.js';
export { chunkUnsafeTestingKnobNames, type ChunkUnsafeTestingKnob, type ChunkUnsafeTestingKnobs } from '../server/unsafe-testing-knobs.js';
export { RebuildExecutor } from '../repair/rebuild-executor.js';
export { Scrubber } from '../repair/scrubber.js';
export { RepairBudget } from '../repair/repair-budget.js';
export { TokenBucket } from '@basalt/stdx';
export { MemoryDisk, MemoryExtentStore, type BlockPart } from '../store/memory-extent-store.js';
export type { ExtentStore } from '../store/extent-store.js';
export { isMutation } from '../replica/admission.js';
export { newGrants, type Grants } from '../replica/authorize.js';
export { Credentials } from '../server/credentials.js';
