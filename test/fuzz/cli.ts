/**
 * `pnpm fuzz --iterations N [--surface codec|capability|chunkd|nbd|meta] [--seed S]`: the long fuzz run
 * (docs/fuzzing.md). Prints the seed first, progress as it goes, and on a failure the seed and
 * fast-check's path to replay the shrunk input; exits 1 on a failure.
 */
import { parseArgs } from 'node:util';
import { fuzzCapability } from './capability-surface.js';
import { fuzzChunkd } from './chunkd-surface.js';
import { fuzzCodec } from './codec-surface.js';
import { fuzzMetaApi, fuzzMetaState } from './meta-surface.js';
import { fuzzNbd } from './nbd-surface.js';
import type { FuzzOptions } from './surface.js';

const surfaces: Record<string, (o: FuzzOptions) => void | Promise<void>> = {
  codec: fuzzCodec,
  capability: fuzzCapability,
  chunkd: fuzzChunkd,
  nbd: fuzzNbd,
  meta: async (o) => {
    fuzzMetaState(o);
    await fuzzMetaApi(o);
  },
};

const usage = `usage: pnpm fuzz --iterations N [--surface ${Object.keys(surfaces).join('|')}] [--seed S]`;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { iterations: { type: 'string' }, surface: { type: 'string' }, seed: { type: 'string' } } });
  const iterations = Number(values.iterations ?? 1000);
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
  const chosen = values.surface === undefined ? Object.keys(surfaces) : [values.surface];
  if (!Number.isSafeInteger(iterations) || iterations < 1 || !Number.isSafeInteger(seed) || chosen.some((s) => surfaces[s] === undefined)) {
    console.error(usage);
    return 2;
  }
  console.log(`fuzz: seed ${seed}, ${iterations} inputs per surface (replay: pnpm fuzz --iterations ${iterations} --surface <s> --seed ${seed})`);
  for (const name of chosen) {
    const started = Date.now();
    try {
      await surfaces[name]!({ iterations, seed, progress: (done) => console.log(`${name}: ${done}/${iterations} inputs`) });
    } catch (e) {
      console.error(`${name}: FAILED with seed ${seed}\n${e instanceof Error ? e.message : String(e)}`);
      return 1;
    }
    console.log(`${name}: ${iterations} inputs passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return 0;
}

process.exitCode = await main();
