export { chunkdFlags, chunkdOptionsFrom, chunkdUsage, parseChunkdArgs } from './chunkd-args.js';
