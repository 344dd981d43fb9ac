import { describe, expect, it } from 'vitest';
import { freePortRange, freePorts } from './process.js';

describe('freePorts', () => {
  it('never hands out a port twice in one test file, though none of them is bound yet', async () => {
    // 2,000 single picks from 12,768 ports: without the record of handed-out ports, two picks
    // meet with a probability of 1 - e^(-2000^2 / (2 * 12768)), which is 1 to many decimals.
    const ports: number[] = [];
    for (let i = 0; i < 2_000; i++) ports.push(...(await freePorts(1)));
    const base = await freePortRange(8);
    const all = [...ports, ...Array.from({ length: 8 }, (_, i) => base + i)];
    expect(new Set(all).size).toBe(all.length);
    for (const port of all) expect(port >= 20_000 && port < 32_768).toBe(true);
  });
});
