import { describe, expect, it } from 'vitest';
import { Prng } from '@basalt/stdx';
import { planCopy, sameBlock, type StampList } from './copy-plan.js';

const SEED = Number(process.env.SEED ?? 5);

function stamps(n: number): StampList {
  return { epochs: new Uint32Array(n), seqs: new Uint32Array(n), crcs: new Uint32Array(n) };
}

function write(s: StampList, block: number, epoch: number, seq: number, crc: number): void {
  s.epochs[block] = epoch;
  s.seqs[block] = seq;
  s.crcs[block] = crc;
}

describe('planCopy', () => {
  it('copies nothing between equal lists, even of written blocks', () => {
    const a = stamps(64);
    const b = stamps(64);
    for (const s of [a, b]) write(s, 3, 2, 9, 0xabc);
    expect(planCopy(a, b, 8)).toEqual({ runs: [], blocksCompared: 64, blocksToCopy: 0 });
  });

  it('rebuilds to an empty member every written block, in runs no longer than the limit', () => {
    const src = stamps(20);
    for (let i = 2; i < 20; i++) write(src, i, 1, i, i * 7);
    const plan = planCopy(src, stamps(20), 8);
    expect(plan.runs).toEqual([
      { firstBlock: 2, blocks: 8 },
      { firstBlock: 10, blocks: 8 },
      { firstBlock: 18, blocks: 2 },
    ]);
    expect(plan.blocksToCopy).toBe(18);
  });

  it('catches up only the blocks written while the member was away', () => {
    const src = stamps(100);
    for (let i = 0; i < 100; i++) write(src, i, 1, i + 1, i);
    const tgt = stamps(100);
    for (let i = 0; i < 100; i++) write(tgt, i, 1, i + 1, i);
    write(src, 40, 3, 1, 999);
    write(src, 41, 3, 2, 998);
    write(src, 77, 3, 3, 997);
    expect(planCopy(src, tgt, 256).runs).toEqual([
      { firstBlock: 40, blocks: 2 },
      { firstBlock: 77, blocks: 1 },
    ]);
  });

  it('copies a block whose stamps agree but whose CRCs do not, and one the source trimmed back to never-written', () => {
    const src = stamps(4);
    const tgt = stamps(4);
    write(src, 1, 2, 5, 111);
    write(tgt, 1, 2, 5, 112);
    write(tgt, 3, 1, 1, 50);
    expect(planCopy(src, tgt, 256).runs).toEqual([
      { firstBlock: 1, blocks: 1 },
      { firstBlock: 3, blocks: 1 },
    ]);
  });

  it('property: the runs cover exactly the differing blocks, in order, disjoint, none longer than the limit', () => {
    for (let run = 0; run < 200; run++) {
      const seed = SEED * 1000 + run;
      const prng = new Prng(seed);
      const n = prng.int(1, 600);
      const limit = prng.int(1, 64);
      const src = stamps(n);
      const tgt = stamps(n);
      for (let i = 0; i < n; i++) {
        const e = prng.int(0, 3);
        const q = prng.int(0, 3);
        const c = prng.int(0, 3);
        write(src, i, e, q, c);
        if (prng.chance(0.6)) write(tgt, i, e, q, c);
        else write(tgt, i, prng.int(0, 3), prng.int(0, 3), prng.int(0, 3));
      }
      const plan = planCopy(src, tgt, limit);
      const covered = new Uint8Array(n);
      let last = -1;
      for (const r of plan.runs) {
        expect(r.blocks, `SEED=${seed}`).toBeGreaterThan(0);
        expect(r.blocks, `SEED=${seed}`).toBeLessThanOrEqual(limit);
        expect(r.firstBlock, `SEED=${seed}`).toBeGreaterThan(last);
        for (let i = r.firstBlock; i < r.firstBlock + r.blocks; i++) covered[i] = 1;
        last = r.firstBlock + r.blocks - 1;
      }
      const differing = Uint8Array.from({ length: n }, (_, i) => (sameBlock(src, tgt, i) ? 0 : 1));
      expect(Buffer.compare(Buffer.from(covered), Buffer.from(differing)), `SEED=${seed}`).toBe(0);
      expect(plan.blocksToCopy).toBe(covered.reduce((a, b) => a + b, 0));
      expect(plan.blocksCompared).toBe(n);
    }
  });

  it('property: applying the plan to the target makes it equal to the source', () => {
    for (let run = 0; run < 100; run++) {
      const seed = SEED * 7919 + run;
      const prng = new Prng(seed);
      const n = prng.int(1, 300);
      const src = stamps(n);
      const tgt = stamps(n);
      for (let i = 0; i < n; i++) {
        if (prng.chance(0.5)) write(src, i, prng.int(1, 4), prng.int(1, 50), prng.nextUint32());
        if (prng.chance(0.3)) write(tgt, i, prng.int(1, 4), prng.int(1, 50), prng.nextUint32());
        else if (prng.chance(0.5)) write(tgt, i, src.epochs[i]!, src.seqs[i]!, src.crcs[i]!);
      }
      for (const r of planCopy(src, tgt, prng.int(1, 256)).runs) {
        for (let i = r.firstBlock; i < r.firstBlock + r.blocks; i++) write(tgt, i, src.epochs[i]!, src.seqs[i]!, src.crcs[i]!);
      }
      expect(planCopy(src, tgt, 256).runs, `SEED=${seed}`).toEqual([]);
    }
  });
});
