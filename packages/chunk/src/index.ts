export { startChunkd, diskSpace, type Chunkd, type ChunkdOptions } from './chunkd.js';
export { chunkdFlags, chunkdOptionsFrom, chunkdUsage, parseChunkdArgs } from './args/index.js';
export { runChunkd } from './run-chunkd.js';
export type { ExtentStore, ReadOutcome, CopySource } from './store/extent-store.js';
export { FileExtentStore } from './store/file-extent-store.js';
export { MemoryDisk, MemoryExtentStore, type BlockPart } from './store/memory-extent-store.js';
export { extentPath } from './store/extent-files.js';
export type { ReplicaMeta } from './replica/replica-meta.js';
export type { MetaLink, ExtentPlacement, ServerReport } from './server/meta-link.js';
