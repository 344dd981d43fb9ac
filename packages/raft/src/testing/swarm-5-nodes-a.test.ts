import { describe, it } from 'vitest';
import { swarmSlice } from './swarm-cases.js';

describe('simulation swarm, 5 nodes, seeds 1..125', () => {
  it('125 seeded runs mixing every fault pass every checker', () => {
    swarmSlice(5, 1, 125);
  });
});
