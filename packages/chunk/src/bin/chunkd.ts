#!/usr/bin/env node
import { isBasaltError } from '@basalt/stdx';
import { parseChunkdArgs } from '../args/index.js';
import { runChunkd } from '../run-chunkd.js';

/** Standalone entry of chunkd (the same as `basalt chunk start`). */
try {
  await runChunkd(parseChunkdArgs(process.argv.slice(2)));
} catch (err) {
  console.error(isBasaltError(err) ? `${err.code}: ${err.message}` : err);
  process.exitCode = 1;
}
