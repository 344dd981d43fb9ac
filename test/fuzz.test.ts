/**
 * A short run of every fuzz surface (test/fuzz; the long run is `pnpm fuzz`). The seed is fixed
 * unless FUZZ_SEED is set; a failure's report names the seed and path to replay.
 */
import { describe, it } from 'vitest';
import { fuzzCapability } from './fuzz/capability-surface.js';
import { fuzzChunkd } from './fuzz/chunkd-surface.js';
import { fuzzCodec } from './fuzz/codec-surface.js';
import { fuzzMetaApi, fuzzMetaState } from './fuzz/meta-surface.js';
import { fuzzNbd } from './fuzz/nbd-surface.js';

const seed = Number(process.env.FUZZ_SEED ?? 1);

describe('fuzzing (short run)', () => {
  it('the data protocol codec and frame splitter never throw, refuse with stable codes and stay bounded', () => {
    fuzzCodec({ iterations: 600, seed });
  });

  it('capability tokens verify only as metad signed them, and never throw', () => {
    fuzzCapability({ iterations: 300, seed });
  });

  it('a chunk server answers or closes on every input, with stable codes, and stores exactly the writes it acknowledged', async () => {
    await fuzzChunkd({ iterations: 150, seed });
  });

  it('the NBD negotiation and transmission parser answer every option in form and accept only requests inside the volume', () => {
    fuzzNbd({ iterations: 600, seed });
  });

  it('the metadata state machine refuses hostile commands with stable codes and an unchanged state hash', () => {
    fuzzMetaState({ iterations: 300, seed });
  });

  it('metad answers hostile gRPC requests or refuses them with a BasaltError and an unchanged state hash', async () => {
    await fuzzMetaApi({ iterations: 150, seed });
  });
});
