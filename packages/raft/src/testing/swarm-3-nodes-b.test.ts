import { describe, it } from 'vitest';
import { swarmSlice } from './swarm-cases.js';

describe('simulation swarm, 3 nodes, seeds 126..250', () => {
  // Generous: a slice takes seconds alone and much longer on a loaded 2-core machine.
  it('125 seeded runs mixing every fault pass every checker', { timeout: 600_000 }, () => {
    swarmSlice(3, 126, 125);
  });
});
