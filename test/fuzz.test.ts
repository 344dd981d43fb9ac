/**
 * A short run of every fuzz surface (test/fuzz; the long run is `pnpm fuzz`). The seed is fixed
 * unless FUZZ_SEED is set; a failure's report names the seed and path to replay.
 */
import { describe, it } from 'vitest';
import { fuzzCodec } from './fuzz/codec-surface.js';
import { fuzzNbd } from './fuzz/nbd-surface.js';

const seed = Number(process.env.FUZZ_SEED ?? 1);

describe('fuzzing (short run)', () => {
  it('the data protocol codec and frame splitter never throw, refuse with stable codes and stay bounded', () => {
    fuzzCodec({ iterations: 600, seed });
  });

  it('the NBD negotiation and transmission parser answer every option in form and accept only requests inside the volume', () => {
    fuzzNbd({ iterations: 600, seed });
  });
});
