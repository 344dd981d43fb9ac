import { describe, expect, it } from 'vitest';
import { Prng } from '@basalt/stdx';
import { compareStamps } from '@basalt/wire';
import { judgeMembers, type MemberBlocks } from './scrub-plan.js';

const SEED = Number(process.env.SEED ?? 3);

function member(n: number): MemberBlocks {
  return { epochs: new Uint32Array(n), seqs: new Uint32Array(n), crcs: new Uint32Array(n), bad: new Uint8Array(n) };
}

function set(m: MemberBlocks, i: number, epoch: number, seq: number, crc: number, bad = false): void {
  m.epochs[i] = epoch;
  m.seqs[i] = seq;
  m.crcs[i] = crc;
  m.bad[i] = bad ? 1 : 0;
}

describe('judgeMembers', () => {
  it('finds nothing when every member agrees and verifies', () => {
    const ms = [member(3), member(3), member(3)];
    for (const m of ms) set(m, 1, 2, 7, 42);
    expect(judgeMembers(ms)).toEqual({ repairs: [], unrepairable: [] });
  });

  it('repairs a block that fails its CRC from a member whose copy verifies', () => {
    const ms = [member(2), member(2)];
    set(ms[0]!, 0, 1, 1, 9, true);
    set(ms[1]!, 0, 1, 1, 9);
    expect(judgeMembers(ms).repairs).toEqual([{ block: 0, source: 1, targets: [0] }]);
  });

  it('takes the higher stamp that verifies, not the primary (member 0)', () => {
    const ms = [member(1), member(1), member(1)];
    set(ms[0]!, 0, 1, 5, 10);
    set(ms[1]!, 0, 2, 1, 11);
    set(ms[2]!, 0, 3, 1, 12, true);
    expect(judgeMembers(ms).repairs).toEqual([{ block: 0, source: 1, targets: [0, 2] }]);
  });

  it('calls a block unrepairable when no copy verifies, or two verify at one stamp with different data', () => {
    const ms = [member(2), member(2)];
    set(ms[0]!, 0, 1, 1, 1, true);
    set(ms[1]!, 0, 1, 1, 1, true);
    set(ms[0]!, 1, 1, 2, 5);
    set(ms[1]!, 1, 1, 2, 6);
    expect(judgeMembers(ms)).toEqual({ repairs: [], unrepairable: [0, 1] });
  });

  it('property: after applying the repairs every member holds the authority copy, and the authority verifies with the highest stamp', () => {
    for (let run = 0; run < 200; run++) {
      const seed = SEED * 1000 + run;
      const prng = new Prng(seed);
      const n = prng.int(1, 40);
      const ms = Array.from({ length: prng.int(1, 4) }, () => member(n));
      for (let i = 0; i < n; i++) {
        for (const m of ms) set(m, i, prng.int(0, 2), prng.int(0, 2), prng.int(0, 1), prng.chance(0.2));
      }
      const { repairs, unrepairable } = judgeMembers(ms);
      for (const r of repairs) {
        const src = ms[r.source]!;
        expect(src.bad[r.block], `SEED=${seed}`).toBe(0);
        for (const m of ms) {
          if (m.bad[r.block] === 0) expect(compareStamps(m.epochs[r.block]!, m.seqs[r.block]!, src.epochs[r.block]!, src.seqs[r.block]!), `SEED=${seed}`).toBeLessThanOrEqual(0);
        }
        for (const t of r.targets) set(ms[t]!, r.block, src.epochs[r.block]!, src.seqs[r.block]!, src.crcs[r.block]!);
      }
      const again = judgeMembers(ms);
      expect(again.repairs, `SEED=${seed}`).toEqual([]);
      expect(again.unrepairable, `SEED=${seed}`).toEqual(unrepairable);
    }
  });
});
