import { describe, expect, it } from 'vitest';
import { humanBytes } from './human-bytes.js';

describe('humanBytes', () => {
  it('rounds to the largest binary unit with one decimal below 10', () => {
    expect([0, 512, 1536, 64 * 2 ** 20, 10.4 * 2 ** 30, 2 ** 60].map(humanBytes)).toEqual(['0 B', '512 B', '1.5 KiB', '64 MiB', '10 GiB', '1024 PiB']);
  });
});
