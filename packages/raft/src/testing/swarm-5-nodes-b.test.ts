import { describe, it } from 'vitest';
import { swarmSlice } from './swarm-cases.js';

describe('simulation swarm, 5 nodes, seeds 126..250', () => {
  it('125 seeded runs mixing every fault pass every checker', () => {
    swarmSlice(5, 126, 125);
  });
});
