#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { chunkdHeapFlags } from '../heap-flags.js';

/** Standalone entry of chunkd (the same as `basalt chunk start`). Heap flags first: loading the modules grows the young generation. */
setFlagsFromString(chunkdHeapFlags);
const { isBasaltError } = await import('@basalt/stdx');
const { parseChunkdArgs } = await import('../args/index.js');
const { runChunkd } = await import('../run-chunkd.js');
try {
  await runChunkd(parseChunkdArgs(process.argv.slice(2)));
} catch (err) {
  console.error(isBasaltError(err) ? `${err.code}: ${err.message}` : err);
  process.exitCode = 1;
}
